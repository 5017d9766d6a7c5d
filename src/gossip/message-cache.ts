/** One recently relayed message, kept to answer grafts. */
export interface CachedMessage {
  /** The full 32-byte id (announcements to gossip/3 peers carry it). */
  id: Uint8Array;
  /**
   * The relay encoding (ttl and hops already advanced), sent as is to a
   * grafting peer: `body` with the id (gossip/1-4 peers), `bare` without it
   * (gossip/5 peers compute it); at least one of them, the other made when asked.
   */
  body?: Uint8Array;
  bare?: Uint8Array;
  topic: string;
  /** Peers known to hold the message (its sender, those that announced it): no announcement goes to them. Usually one or two. */
  knownBy: string[];
  /** The heaviest link weights of the path it came by, its last link included (link-weight.ts). */
  path: number[];
  /** The peer its first copy came from (none for our own), and that link's weight then. */
  from: string | undefined;
  fromWeight: number;
  /** Prune hints taken for it: a hostile peer cannot make one message cost more than a few. */
  hints: number;
}

interface Arrival {
  key: string;
  bytes: number;
  addedMs: number;
}

/**
 * Messages this node relayed recently, so a peer that heard an id announced
 * but never got the message can graft it from us. A graft comes within a
 * second or so of the announcement (flush delay, graft timeout, a retry), so
 * entries also expire by age: at 20 msgs/s a count bound alone kept 50 s of
 * messages, 1 MiB per node for nothing. Bounded in entries, bytes and age;
 * oldest first out. The newest entry always stays, whatever its size.
 *
 * Arrival order is an array with a moving head rather than the Map's own
 * order: taking the oldest key of a Map that keeps losing its oldest entries
 * skips every deleted slot at its front, a scan that showed in profiles.
 */
export class MessageCache {
  private readonly entries = new Map<string, CachedMessage & { addedMs: number }>();
  private arrivals: Arrival[] = [];
  private head = 0;
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
    const bytes = (entry.body?.length ?? 0) + (entry.bare?.length ?? 0);
    this.arrivals.push({ key, bytes, addedMs: now });
    this.bytes += bytes;
    const cutoff = now - this.maxAgeMs;
    while (this.entries.size > 1) {
      const oldest = this.arrivals[this.head]!;
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes && oldest.addedMs > cutoff) break;
      this.entries.delete(oldest.key);
      this.bytes -= oldest.bytes;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.arrivals.length) {
      this.arrivals = this.arrivals.slice(this.head);
      this.head = 0;
    }
  }

  /** Keys of the entries not yet expired, oldest first (arrivals from the head on are exactly the entries). */
  *liveKeys(): IterableIterator<string> {
    const cutoff = this.now() - this.maxAgeMs;
    for (let i = this.head; i < this.arrivals.length; i++) {
      const a = this.arrivals[i]!;
      if (a.addedMs > cutoff) yield a.key;
    }
  }

  /** A peer left: it no longer needs to be skipped by announcements. */
  forget(peerId: string): void {
    for (const e of this.entries.values()) {
      const at = e.knownBy.indexOf(peerId);
      if (at >= 0) e.knownBy.splice(at, 1);
    }
  }
}
