/**
 * Run a streaming loop until it ends or the user presses Ctrl-C (SIGINT) or
 * the process gets SIGTERM; either signal cancels the call and exits cleanly.
 */
export async function untilInterrupted(loop: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await loop(ac.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
