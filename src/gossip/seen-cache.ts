/**
 * Ids of messages already handled, bounded both in entries and in age.
 * A Map keeps insertion order, which here is also age order: the oldest
 * entries are always at the front, so both bounds evict from there.
 * Lookups run on every frame, so the sweep of old entries runs at most once
 * a second; a lookup still never reports an entry past its age.
 */
export class SeenCache {
  private readonly entries = new Map<string, number>();
  private nextSweepMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (maxEntries < 1) throw new RangeError('seen cache needs room for at least one entry');
  }

  get size(): number {
    this.sweep(this.now(), true);
    return this.entries.size;
  }

  has(key: string): boolean {
    const at = this.entries.get(key);
    if (at === undefined) return false;
    const now = this.now();
    if (at > now - this.maxAgeMs) return true;
    this.sweep(now, true);
    return false;
  }

  /** Record `key`; returns false when it was already there (seen before). */
  add(key: string): boolean {
    const now = this.now();
    this.sweep(now, false);
    if (this.has(key)) return false;
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, now);
    return true;
  }

  private sweep(now: number, force: boolean): void {
    if (!force && now < this.nextSweepMs) return;
    this.nextSweepMs = now + SWEEP_EVERY_MS;
    const cutoff = now - this.maxAgeMs;
    for (const [key, at] of this.entries) {
      if (at > cutoff) break;
      this.entries.delete(key);
    }
  }
}

const SWEEP_EVERY_MS = 1_000;
