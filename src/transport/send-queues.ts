import { INNER_HEADER_BYTES, RECORD_PLAINTEXT_TARGET } from '../wire/limits.js';
import { CONTROL_QUEUE, type QueueSent } from './types.js';

/**
 * Bytes a queue may send per round of the deficit round-robin: one record's
 * worth, so a round gives every busy protocol a full record.
 */
export const QUEUE_QUANTUM = RECORD_PLAINTEXT_TARGET;

class FrameQueue {
  private items: Uint8Array[] = [];
  private head = 0;
  /** Bytes this queue may still send in the current round. */
  deficit = 0;
  frames = 0;
  bytes = 0;
  constructor(readonly name: string) {}
  get empty(): boolean {
    return this.head === this.items.length;
  }
  push(b: Uint8Array): void {
    this.items.push(b);
  }
  peek(): Uint8Array {
    return this.items[this.head]!;
  }
  shift(): Uint8Array {
    const b = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Uint8Array;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    this.frames++;
    this.bytes += b.length;
    return b;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
    this.deficit = 0;
  }
}

/** Cost of one frame against a queue's deficit: what it takes in a record. */
function cost(body: Uint8Array): number {
  return INNER_HEADER_BYTES + body.length;
}

/**
 * One send queue per protocol on a session. The control queue (ping, pong)
 * always goes first; the others take turns by deficit round-robin, each
 * sending up to QUEUE_QUANTUM bytes per turn (a frame larger than that waits
 * until its queue has saved up enough turns), so a chain sync of large
 * blocks and a gossip burst share the session instead of queueing behind
 * each other. Within a queue, frames keep their order.
 *
 * The caller pulls frames with peek() (which frame comes next, and its size)
 * and take() (remove it), so it can stop a record before a frame that would
 * overfill it and start the next record with that same frame.
 */
export class SendQueues {
  private readonly control = new FrameQueue(CONTROL_QUEUE);
  private readonly byName = new Map<string, FrameQueue>([[CONTROL_QUEUE, this.control]]);
  /** Non-empty queues other than control, in turn order; `turn` indexes the one whose turn it is. */
  private readonly ring: FrameQueue[] = [];
  private turn = 0;
  /** The queue peek() chose; take() removes from it. */
  private chosen: FrameQueue | undefined;

  push(queue: string, body: Uint8Array): void {
    let q = this.byName.get(queue);
    if (q === undefined) {
      q = new FrameQueue(queue);
      this.byName.set(queue, q);
    }
    if (q !== this.control && q.empty) {
      // A queue joins the round with nothing saved; it gets its quantum when its turn comes.
      q.deficit = 0;
      this.ring.push(q);
      if (this.ring.length === 1) {
        this.turn = 0;
        q.deficit = QUEUE_QUANTUM;
      }
    }
    q.push(body);
  }

  /** The body the next take() returns, or undefined when every queue is empty. */
  peek(): Uint8Array | undefined {
    if (!this.control.empty) {
      this.chosen = this.control;
      return this.control.peek();
    }
    const ring = this.ring;
    if (ring.length === 0) return undefined;
    for (;;) {
      const q = ring[this.turn]!;
      const next = q.peek();
      const need = cost(next);
      if (q.deficit >= need) {
        this.chosen = q;
        return next;
      }
      if (ring.length === 1) {
        // Nobody to take turns with: the rounds it would wait for are free.
        q.deficit = need;
        continue;
      }
      this.nextTurn();
    }
  }

  /** Remove and return the body peek() just returned. */
  take(): Uint8Array {
    const q = this.chosen!;
    this.chosen = undefined;
    const body = q.shift();
    if (q === this.control) return body;
    q.deficit -= cost(body);
    if (q.empty) {
      // An idle queue keeps no credit (it would let it burst later); the next queue's turn starts.
      q.deficit = 0;
      this.ring.splice(this.turn, 1);
      if (this.ring.length > 0) {
        if (this.turn >= this.ring.length) this.turn = 0;
        this.ring[this.turn]!.deficit += QUEUE_QUANTUM;
      } else {
        this.turn = 0;
      }
    }
    return body;
  }

  private nextTurn(): void {
    this.turn = (this.turn + 1) % this.ring.length;
    this.ring[this.turn]!.deficit += QUEUE_QUANTUM;
  }

  /** Drop everything queued (the session is closing); counters stay. */
  clear(): void {
    for (const q of this.byName.values()) q.clear();
    this.ring.length = 0;
    this.turn = 0;
    this.chosen = undefined;
  }

  /** Frames and bytes taken from each queue so far, control first. */
  sent(): QueueSent[] {
    return [...this.byName.values()].map((q) => ({ queue: q.name, frames: q.frames, bytes: q.bytes }));
  }
}
