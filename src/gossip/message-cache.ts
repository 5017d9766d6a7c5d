/** One recently relayed message, kept to answer grafts. */
export interface CachedMessage {
  /** The relay encoding (ttl and hops already advanced), sent as is to a grafting peer. */
  body: Uint8Array;
  topic: string;
  /** Peers known to hold the message (its sender, those that announced it): no announcement goes to them. */
  knownBy: Set<string>;
}

/**
 * Messages this node relayed recently, so a peer that heard an id announced
 * but never got the message can graft it from us. Bounded in entries and
 * bytes; oldest first out (Map insertion order is arrival order). The newest
 * entry always stays, whatever its size.
 */
export class MessageCache {
  private readonly entries = new Map<string, CachedMessage>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedMessage | undefined {
    return this.entries.get(key);
  }

  add(key: string, entry: CachedMessage): void {
    if (this.entries.has(key)) return;
    this.entries.set(key, entry);
    this.bytes += entry.body.length;
    while (this.entries.size > 1 && (this.entries.size > this.maxEntries || this.bytes > this.maxBytes)) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, CachedMessage];
      this.entries.delete(oldestKey);
      this.bytes -= oldest.body.length;
    }
  }

  /** A peer left: it no longer needs to be skipped by announcements. */
  forget(peerId: string): void {
    for (const e of this.entries.values()) e.knownBy.delete(peerId);
  }
}
