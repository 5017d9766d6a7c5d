/**
 * Answers we stopped waiting for (our query timed out, or the session that
 * carried the question closed, e.g. replaced by a duplicate). Such an answer
 * may still arrive; it is late, not unsolicited, and must not be scored as
 * the peer's misbehaviour. Bounded: the oldest keys are forgotten first.
 */
export class LateAnswers {
  private readonly keys = new Set<string>();

  constructor(private readonly max = 1024) {}

  /** We gave up waiting for the answer named by `key`. */
  expect(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value as string);
  }

  /** True (once) when `key` is an answer we gave up on. */
  take(key: string): boolean {
    return this.keys.delete(key);
  }

  get size(): number {
    return this.keys.size;
  }
}

export const nodeListKey = (peerId: string, requestId: bigint): string => `node-list:${peerId}:${requestId}`;
export const peerListKey = (peerId: string): string => `peer-list:${peerId}`;
