import { PheromonesError } from '../errors.js';

/**
 * Events waiting to be written to one stream. Producers (node listeners) push
 * without waiting; the stream pulls as fast as its client reads. When the
 * client falls `limit` events behind, the queue fails with RESOURCE_EXHAUSTED
 * rather than growing: one slow reader must not cost the node its memory.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  private error: Error | undefined;

  constructor(
    private readonly limit: number,
    signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', () => this.end(), { once: true });
  }

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.done || this.error) return;
    if (this.items.length >= this.limit) {
      this.fail(
        new PheromonesError(
          'resource-exhausted',
          `stream closed: the client fell more than ${this.limit} events behind; read faster or resubscribe`,
        ),
      );
      return;
    }
    this.items.push(item);
    this.notify();
  }

  /** Stop after the queued items. */
  end(): void {
    this.done = true;
    this.notify();
  }

  /** Stop now: queued items are dropped and the iterator throws. */
  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.items.length = 0;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.error) throw this.error;
      const next = this.items.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
