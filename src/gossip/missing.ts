/** An id announced to us whose message has not arrived yet. */
interface Missing {
  /** The full id once a gossip/3 peer announced it, else the 8-byte prefix announced. */
  id: Uint8Array;
  /** Peers that announced it, in announcement order; the next graft goes to the first. */
  announcers: string[];
  deadline: number;
  /** A graft went out for it. */
  grafted: boolean;
}

export interface MissingOptions {
  maxEntries: number;
  /** Announcers remembered per id. */
  maxAnnouncers: number;
  /** Wait after the first announcement before grafting (the eager copy is usually on its way). */
  timeoutMs: number;
  /** Wait after a graft before asking the next announcer. */
  retryMs: number;
  /** Ask `peerId` for these ids (and take that link into the tree). */
  graft: (peerId: string, ids: Uint8Array[]) => void;
  isConnected: (peerId: string) => boolean;
  /** An id no announcer delivered. */
  onDropped: () => void;
  now?: () => number;
}

/**
 * The missing-message timers of the lazy push: one Node timer for the whole
 * table, armed for the earliest deadline, so their number stays bounded
 * whatever the traffic. Grafts due at the same time to the same peer go in
 * one request.
 */
export class MissingTable {
  private readonly entries = new Map<string, Missing>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly opts: MissingOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** `peerId` announced `id`, which we do not have. */
  announce(key: string, id: Uint8Array, peerId: string): void {
    const e = this.entries.get(key);
    if (e !== undefined) {
      if (e.announcers.length < this.opts.maxAnnouncers && !e.announcers.includes(peerId)) e.announcers.push(peerId);
      if (id.length > e.id.length) e.id = new Uint8Array(id);
      return;
    }
    // Past the bound an announcement is ignored: the eager copy or a later announcement still brings the message.
    if (this.entries.size >= this.opts.maxEntries) return;
    const deadline = this.now() + this.opts.timeoutMs;
    this.entries.set(key, { id: new Uint8Array(id), announcers: [peerId], deadline, grafted: false });
    this.arm(deadline);
  }

  /**
   * The message arrived: whether it had been grafted (recovered through an
   * announcement), and the announcers not yet asked (they hold it).
   */
  resolve(key: string): { grafted: boolean; announcers: string[] } | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    if (this.entries.size === 0) this.disarm();
    return { grafted: e.grafted, announcers: e.announcers };
  }

  stop(): void {
    this.entries.clear();
    this.disarm();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private arm(deadline: number): void {
    if (deadline >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.fire(), Math.max(0, deadline - this.now()));
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    const grafts = new Map<string, Uint8Array[]>();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, e] of this.entries) {
      if (e.deadline > now) {
        next = Math.min(next, e.deadline);
        continue;
      }
      let to: string | undefined;
      while (to === undefined && e.announcers.length > 0) {
        const p = e.announcers.shift()!;
        if (this.opts.isConnected(p)) to = p;
      }
      if (to === undefined) {
        this.entries.delete(key);
        this.opts.onDropped();
        continue;
      }
      let ids = grafts.get(to);
      if (ids === undefined) grafts.set(to, (ids = []));
      ids.push(e.id);
      e.grafted = true;
      e.deadline = now + this.opts.retryMs;
      next = Math.min(next, e.deadline);
    }
    for (const [peerId, ids] of grafts) this.opts.graft(peerId, ids);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}
