/** One recently relayed message, kept to answer grafts. */
export interface CachedMessage {
  /** The relay encoding (ttl and hops already advanced), sent as is to a grafting peer. */
  body: Uint8Array;
  topic: string;
  /** Peers known to hold the message (its sender, those that announced it): no announcement goes to them. */
  knownBy: Set<string>;
}

interface Entry extends CachedMessage {
  addedMs: number;
}

/**
 * Messages this node relayed recently, so a peer that heard an id announced
 * but never got the message can graft it from us. A graft comes within a
 * second or so of the announcement (flush delay, graft timeout, a retry), so
 * entries also expire by age: at 20 msgs/s a count bound alone kept 50 s of
 * messages, 1 MiB per node for nothing. Bounded in entries, bytes and age;
 * oldest first out (Map insertion order is arrival order). The newest entry
 * always stays, whatever its size.
 */
export class MessageCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedMessage | undefined {
    const e = this.entries.get(key);
    return e === undefined || e.addedMs <= this.now() - this.maxAgeMs ? undefined : e;
  }

  add(key: string, entry: CachedMessage): void {
    if (this.entries.has(key)) return;
    const now = this.now();
    this.entries.set(key, { ...entry, addedMs: now });
    this.bytes += entry.body.length;
    const cutoff = now - this.maxAgeMs;
    for (const [oldestKey, oldest] of this.entries) {
      const over = this.entries.size > this.maxEntries || this.bytes > this.maxBytes || oldest.addedMs <= cutoff;
      if (!over || this.entries.size === 1) break;
      this.entries.delete(oldestKey);
      this.bytes -= oldest.body.length;
    }
  }

  /** A peer left: it no longer needs to be skipped by announcements. */
  forget(peerId: string): void {
    for (const e of this.entries.values()) e.knownBy.delete(peerId);
  }
}
