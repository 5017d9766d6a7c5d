import { randomBytes } from 'node:crypto';
import { mix32, wordLE } from '../crypto/hash.js';

/** First ring size; it doubles as needed up to maxEntries. */
const INITIAL_CAPACITY = 1024;
const SWEEP_EVERY_MS = 1_000;

/**
 * Ids of messages already handled, bounded both in entries and in age.
 *
 * Each id is kept as its first 8 bytes in typed arrays: about 24 bytes an
 * entry where a Map of 32-character strings took about 100, which at the
 * default 100,000 entries is 2.4 MB per node instead of 10. Ids are sha256
 * digests of validated content, so two messages sharing 8 bytes by accident
 * is a 2^-64 event, and making a message collide with someone else's
 * (suppressing it here) is a second preimage on 64 bits. The hash table's
 * bucket hash is keyed with a per-process secret, so crafted ids cannot
 * pile into one probe chain.
 *
 * Entries live in a ring in insertion order, which is also age order: both
 * bounds evict from its head. Lookups run on every frame, so the sweep of
 * old entries runs at most once a second; a lookup still never reports an
 * entry past its age.
 */
export class SeenCache {
  private capacity = 0;
  private lo = new Uint32Array(0);
  private hi = new Uint32Array(0);
  private addedMs = new Float64Array(0);
  private head = 0;
  private count = 0;
  /** Open addressing, linear probing: ring slot + 1, 0 for empty. At most half full. */
  private table = new Uint32Array(0);
  private mask = 0;
  private readonly seedLo: number;
  private readonly seedHi: number;
  private nextSweepMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (maxEntries < 1) throw new RangeError('seen cache needs room for at least one entry');
    const seed = randomBytes(8);
    this.seedLo = seed.readUInt32LE(0);
    this.seedHi = seed.readUInt32LE(4);
    this.resize(Math.min(maxEntries, INITIAL_CAPACITY));
  }

  get size(): number {
    this.sweep(this.now(), true);
    return this.count;
  }

  has(id: Uint8Array): boolean {
    const lo = wordLE(id, 0);
    const hi = wordLE(id, 4);
    let now: number | undefined;
    // An expired entry and a fresh one for the same id can both be present
    // (the clock stepped back, so the sweep has not reached the old one).
    for (let i = this.bucket(lo, hi); this.table[i] !== 0; i = (i + 1) & this.mask) {
      const slot = this.table[i]! - 1;
      if (this.lo[slot] !== lo || this.hi[slot] !== hi) continue;
      now ??= this.now();
      if (this.addedMs[slot]! > now - this.maxAgeMs) return true;
    }
    if (now !== undefined) this.sweep(now, true);
    return false;
  }

  /** Record `id`; returns false when it was already there (seen before). */
  add(id: Uint8Array): boolean {
    const now = this.now();
    this.sweep(now, false);
    if (this.has(id)) return false;
    if (this.count === this.capacity) {
      if (this.capacity < this.maxEntries) this.resize(Math.min(this.maxEntries, this.capacity * 2));
      else this.evictOldest();
    }
    const slot = (this.head + this.count) % this.capacity;
    this.lo[slot] = wordLE(id, 0);
    this.hi[slot] = wordLE(id, 4);
    this.addedMs[slot] = now;
    this.count++;
    this.place(slot);
    return true;
  }

  private bucket(lo: number, hi: number): number {
    return (mix32(lo ^ this.seedLo) ^ mix32(hi ^ this.seedHi)) & this.mask;
  }

  /** Table index pointing at ring `slot` (every ring entry has one). */
  private indexOf(slot: number): number {
    let i = this.bucket(this.lo[slot]!, this.hi[slot]!);
    while (this.table[i] !== slot + 1) i = (i + 1) & this.mask;
    return i;
  }

  private place(slot: number): void {
    let i = this.bucket(this.lo[slot]!, this.hi[slot]!);
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
  }

  private evictOldest(): void {
    let i = this.indexOf(this.head);
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    // Backward-shift deletion: pull later members of the probe run into the gap.
    for (let j = (i + 1) & this.mask; this.table[j] !== 0; j = (j + 1) & this.mask) {
      const entry = this.table[j]!;
      const home = this.bucket(this.lo[entry - 1]!, this.hi[entry - 1]!);
      // The entry may move to i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      this.table[i] = entry;
      i = j;
    }
    this.table[i] = 0;
  }

  /** A ring of `capacity` slots (entries kept, oldest first) and a table twice its size, rounded up to a power of two. */
  private resize(capacity: number): void {
    const lo = new Uint32Array(capacity);
    const hi = new Uint32Array(capacity);
    const addedMs = new Float64Array(capacity);
    for (let k = 0; k < this.count; k++) {
      const from = (this.head + k) % this.capacity;
      lo[k] = this.lo[from]!;
      hi[k] = this.hi[from]!;
      addedMs[k] = this.addedMs[from]!;
    }
    this.lo = lo;
    this.hi = hi;
    this.addedMs = addedMs;
    this.capacity = capacity;
    this.head = 0;
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.table = new Uint32Array(size);
    this.mask = size - 1;
    for (let k = 0; k < this.count; k++) this.place(k);
  }

  private sweep(now: number, force: boolean): void {
    if (!force && now < this.nextSweepMs) return;
    this.nextSweepMs = now + SWEEP_EVERY_MS;
    const cutoff = now - this.maxAgeMs;
    while (this.count > 0 && this.addedMs[this.head]! <= cutoff) this.evictOldest();
  }
}
