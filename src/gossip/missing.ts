/** An id announced to us whose message has not arrived yet. */
interface Missing {
  /** The full id once a gossip/3 peer announced it, else the 8-byte prefix announced. */
  id: Uint8Array;
  /** Peers that announced it, in announcement order; the next graft goes to the first. */
  announcers: string[];
  /** When the first announcement came. */
  announcedAt: number;
  deadline: number;
  /** Peers a graft for it went to. */
  asked: string[];
}

export interface MissingOptions {
  maxEntries: number;
  /** Announcers remembered per id. */
  maxAnnouncers: number;
  /**
   * Least wait after the first announcement before grafting (the eager copy
   * is usually on its way); the wait adapts up to 4 times this to how late
   * eager copies have been arriving after their announcements.
   */
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
  /** Smoothed lateness of eager copies after their first announcement, and its mean deviation (RFC 6298's estimator), or -1 before any. */
  private lateMs = -1;
  private lateDevMs = 0;
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

  /**
   * The wait before a graft now. Under load the tree's copies queue behind
   * other work at every hop and come later than announcements over shorter
   * paths; grafting them anyway sends each message twice, which loads the
   * loop further. So the wait is what the eager copies' lateness has been
   * (mean plus 4 deviations, as TCP's retransmission timeout), between the
   * configured wait and 4 times it.
   */
  get timeoutMs(): number {
    const base = this.opts.timeoutMs;
    if (this.lateMs < 0) return base;
    return Math.min(4 * base, Math.max(base, Math.round(this.lateMs + 4 * this.lateDevMs)));
  }

  private sampleLateness(ms: number): void {
    if (this.lateMs < 0) {
      this.lateMs = ms;
      this.lateDevMs = ms / 2;
      return;
    }
    this.lateDevMs += (Math.abs(this.lateMs - ms) - this.lateDevMs) / 4;
    this.lateMs += (ms - this.lateMs) / 8;
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
    const now = this.now();
    const deadline = now + this.timeoutMs;
    this.entries.set(key, { id: new Uint8Array(id), announcers: [peerId], announcedAt: now, deadline, asked: [] });
    this.arm(deadline);
  }

  /**
   * The message arrived from `fromPeer`: whether it had been grafted
   * (recovered through an announcement), and the announcers not yet asked
   * (they hold it).
   */
  resolve(key: string, fromPeer: string): { grafted: boolean; announcers: string[] } | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    if (this.entries.size === 0) this.disarm();
    // A copy from anyone but the peer grafted was pushed: how late the tree's copy was.
    if (!e.asked.includes(fromPeer)) this.sampleLateness(this.now() - e.announcedAt);
    return { grafted: e.asked.length > 0, announcers: e.announcers };
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
      e.asked.push(to);
      e.deadline = now + this.opts.retryMs;
      next = Math.min(next, e.deadline);
    }
    for (const [peerId, ids] of grafts) this.opts.graft(peerId, ids);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}
