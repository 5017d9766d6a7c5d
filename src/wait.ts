/**
 * Wait for `p` to settle, but no longer than `ms`: for shutdown steps that
 * must not hold a stop() hostage (a peer that never answers, a gateway that
 * never replies). Its outcome is the caller's to log; a rejection here only
 * ends the wait.
 */
export async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
