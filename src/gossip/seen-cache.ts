/**
 * Ids of messages already handled, bounded both in entries and in age.
 * A Map keeps insertion order, which here is also age order: the oldest
 * entries are always at the front, so both bounds evict from there.
 */
export class SeenCache {
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (maxEntries < 1) throw new RangeError('seen cache needs room for at least one entry');
  }

  get size(): number {
    this.expire();
    return this.entries.size;
  }

  has(key: string): boolean {
    this.expire();
    return this.entries.has(key);
  }

  /** Record `key`; returns false when it was already there (seen before). */
  add(key: string): boolean {
    this.expire();
    if (this.entries.has(key)) return false;
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, this.now());
    return true;
  }

  private expire(): void {
    const cutoff = this.now() - this.maxAgeMs;
    for (const [key, at] of this.entries) {
      if (at > cutoff) break;
      this.entries.delete(key);
    }
  }
}
