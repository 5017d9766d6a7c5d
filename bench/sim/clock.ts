/**
 * A virtual clock for the simulation: a discrete-event scheduler that, once
 * installed, stands in for the process's setTimeout/setInterval/clearTimeout/
 * clearInterval and Date.now. The node's code is not told: its timers simply
 * go through these globals, so ten simulated minutes take as long as the
 * work in them, not ten minutes.
 *
 * Time only moves between events. Before it moves, everything the last
 * events started that does not wait on a timer (promise continuations,
 * process.nextTick, setImmediate chains, the in-memory store's async
 * operations) is run to completion, so "at the same time" means what it
 * means on a real clock. Time is in whole milliseconds.
 */

type Callback = () => void;

/** What setTimeout returns while the clock is installed; enough of NodeJS.Timeout for the node's uses. */
export class SimTimer {
  /** Where it sits in the queue (undefined: not scheduled). */
  dueMs: number | undefined;
  seq = 0;
  cancelled = false;

  constructor(
    private readonly clock: VirtualClock,
    readonly fn: Callback,
    readonly delayMs: number,
    readonly repeat: boolean,
    readonly id: number,
  ) {}

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  refresh(): this {
    this.clock.reschedule(this);
    return this;
  }
  close(): this {
    this.cancelled = true;
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

/** Min-heap of timers by (due time, scheduling order): equal times run first-scheduled first. */
class TimerHeap {
  private readonly a: SimTimer[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): SimTimer | undefined {
    return this.a[0];
  }
  push(t: SimTimer): void {
    const a = this.a;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): SimTimer | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: SimTimer, y: SimTimer): boolean {
  return x.dueMs! < y.dueMs! || (x.dueMs === y.dueMs && x.seq < y.seq);
}

interface Originals {
  setTimeout: typeof globalThis.setTimeout;
  setInterval: typeof globalThis.setInterval;
  clearTimeout: typeof globalThis.clearTimeout;
  clearInterval: typeof globalThis.clearInterval;
  setImmediate: typeof globalThis.setImmediate;
  clearImmediate: typeof globalThis.clearImmediate;
  dateNow: typeof Date.now;
}

export class VirtualClock {
  private nowMs: number;
  private readonly heap = new TimerHeap();
  private seq = 0;
  private nextId = 1;
  private originals: Originals | undefined;
  private readonly immediates = new Set<NodeJS.Immediate>();
  /** Timer callbacks run so far (a measure of the simulation's work). */
  eventsRun = 0;

  constructor(startMs = Date.now()) {
    this.nowMs = Math.floor(startMs);
  }

  now(): number {
    return this.nowMs;
  }

  /** Run fn after delayMs of simulated time (at least 1 ms, as Node does for timers). */
  schedule(delayMs: number, fn: Callback): SimTimer {
    const t = new SimTimer(this, fn, normaliseDelay(delayMs), false, this.nextId++);
    this.enqueue(t);
    return t;
  }

  /** Run fn after exactly delayMs (0 allowed): the transport's deliveries, which must keep their order. */
  at(delayMs: number, fn: Callback): void {
    const t = new SimTimer(this, fn, Math.max(0, Math.round(delayMs)), false, this.nextId++);
    this.enqueue(t);
  }

  reschedule(t: SimTimer): void {
    t.cancelled = false;
    this.enqueue(t);
  }

  private enqueue(t: SimTimer): void {
    t.dueMs = this.nowMs + t.delayMs;
    t.seq = this.seq++;
    this.heap.push(t);
  }

  /** Replace the timer globals and Date.now; call before any node is created. */
  install(): void {
    if (this.originals !== undefined) return;
    const o: Originals = {
      setTimeout: globalThis.setTimeout,
      setInterval: globalThis.setInterval,
      clearTimeout: globalThis.clearTimeout,
      clearInterval: globalThis.clearInterval,
      setImmediate: globalThis.setImmediate,
      clearImmediate: globalThis.clearImmediate,
      dateNow: Date.now,
    };
    this.originals = o;
    const clock = this;
    const g = globalThis as unknown as Record<string, unknown>;
    g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => clock.schedule(ms ?? 0, () => fn(...args));
    g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const t = new SimTimer(clock, () => fn(...args), normaliseDelay(ms ?? 0), true, clock.nextId++);
      clock.enqueue(t);
      return t;
    };
    const clear = (t: unknown): void => {
      if (t instanceof SimTimer) t.cancelled = true;
      else if (t !== undefined && t !== null) o.clearTimeout(t as NodeJS.Timeout);
    };
    g.clearTimeout = clear;
    g.clearInterval = clear;
    // setImmediate stays real, but is tracked: time may not move while any is pending.
    g.setImmediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => {
      const imm: NodeJS.Immediate = o.setImmediate(() => {
        clock.immediates.delete(imm);
        fn(...args);
      });
      clock.immediates.add(imm);
      return imm;
    };
    g.clearImmediate = (imm: NodeJS.Immediate | undefined) => {
      if (imm === undefined) return;
      clock.immediates.delete(imm);
      o.clearImmediate(imm);
    };
    Date.now = () => clock.nowMs;
  }

  uninstall(): void {
    const o = this.originals;
    if (o === undefined) return;
    globalThis.setTimeout = o.setTimeout;
    globalThis.setInterval = o.setInterval;
    globalThis.clearTimeout = o.clearTimeout;
    globalThis.clearInterval = o.clearInterval;
    globalThis.setImmediate = o.setImmediate;
    globalThis.clearImmediate = o.clearImmediate;
    Date.now = o.dateNow;
    this.originals = undefined;
  }

  /** Let everything not waiting on a timer finish (promises, nextTicks, setImmediate chains). */
  async settle(): Promise<void> {
    const realImmediate = this.originals?.setImmediate ?? setImmediate;
    do {
      await new Promise<void>((resolve) => realImmediate(resolve));
    } while (this.immediates.size > 0);
  }

  /** Run events until simulated time reaches `untilMs` (absolute), or `stop()` says so. */
  async runUntil(untilMs: number, stop?: () => boolean): Promise<void> {
    await this.settle();
    for (;;) {
      if (stop?.() === true) return;
      const top = this.heap.peek();
      if (top === undefined || top.dueMs! > untilMs) break;
      const due = top.dueMs!;
      this.nowMs = due;
      // Every event due now, then let what they started finish before time moves on.
      while (this.heap.size > 0 && this.heap.peek()!.dueMs === due) {
        const t = this.heap.pop()!;
        if (t.cancelled || t.dueMs !== due) continue;
        t.dueMs = undefined;
        if (t.repeat) this.enqueue(t);
        this.eventsRun++;
        try {
          t.fn();
        } catch (err) {
          process.emitWarning(`simulated timer threw: ${(err as Error).stack ?? String(err)}`);
        }
      }
      await this.settle();
    }
    if (untilMs > this.nowMs) this.nowMs = untilMs;
  }

  /** Run for `ms` of simulated time. */
  runFor(ms: number, stop?: () => boolean): Promise<void> {
    return this.runUntil(this.nowMs + ms, stop);
  }

  /** Run until `cond` holds, checking after every batch of events; false if `maxMs` passed first. */
  async runUntilTrue(cond: () => boolean, maxMs: number): Promise<boolean> {
    await this.runUntil(this.nowMs + maxMs, cond);
    return cond();
  }
}

function normaliseDelay(ms: number): number {
  const d = Math.round(Number(ms));
  return Number.isFinite(d) && d >= 1 && d <= 2_147_483_647 ? d : 1;
}
