/**
 * Delay before redial number `attempt` (0 for the first): base doubling up to
 * max, then "equal jitter" (half fixed, half random) so that peers that lost
 * each other at the same moment do not redial in lockstep.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const capped = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(capped / 2 + random() * (capped / 2));
}
