import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PheromonesError } from '../errors.js';
import { toHex } from './bytes.js';
import { verifyTransactionSignature, type Transaction } from './transaction.js';
import type { VerifyJob, VerifyResult } from './verify-worker.js';

/**
 * Signature checking for transactions, the dominant cost of block import.
 * Results are remembered by (id, signature) so a transaction verified on
 * entry to the pool is not verified again when it arrives in a block.
 */
export interface SignatureVerifier {
  /** Index of the first transaction whose signature is invalid, or -1 when all are valid. */
  verify(txs: readonly Transaction[]): Promise<number>;
  close(): Promise<void>;
}

class VerifiedCache {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  static key(tx: Transaction): string {
    return tx.idHex + toHex(tx.signature);
  }
  has(tx: Transaction): boolean {
    return this.seen.has(VerifiedCache.key(tx));
  }
  add(tx: Transaction): void {
    if (this.seen.size >= this.max) this.seen.delete(this.seen.values().next().value as string);
    this.seen.add(VerifiedCache.key(tx));
  }
}

/** Verifies on the calling thread. */
export class InlineVerifier implements SignatureVerifier {
  private readonly cache: VerifiedCache;
  constructor(options: { cacheSize?: number } = {}) {
    this.cache = new VerifiedCache(options.cacheSize ?? 50_000);
  }
  async verify(txs: readonly Transaction[]): Promise<number> {
    for (let i = 0; i < txs.length; i++) {
      const tx = txs[i]!;
      if (this.cache.has(tx)) continue;
      if (!verifyTransactionSignature(tx)) return i;
      this.cache.add(tx);
    }
    return -1;
  }
  async close(): Promise<void> {}
}

interface Pending {
  resolve: (ok: Uint8Array) => void;
  reject: (err: Error) => void;
}

/**
 * A fixed set of worker threads; each verify() call splits its uncached
 * transactions into one chunk per worker. Small batches (below
 * `inlineBelow`) are verified inline, where a round trip to a worker would
 * cost more than it saves.
 */
export class VerifierPool implements SignatureVerifier {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly cache: VerifiedCache;
  private readonly inlineBelow: number;
  private nextJob = 1;
  private next = 0;
  private closed = false;

  private readonly threadCount: number;

  constructor(options: { threads?: number; cacheSize?: number; inlineBelow?: number } = {}) {
    this.cache = new VerifiedCache(options.cacheSize ?? 50_000);
    this.inlineBelow = options.inlineBelow ?? 4;
    this.threadCount = Math.max(1, options.threads ?? availableParallelism());
  }

  /** Threads start with the first batch big enough to need them: a node that never syncs never pays for them. */
  private startWorkers(): void {
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.threadCount; i++) {
      const w = new Worker(new URL('./verify-worker.js', import.meta.url));
      w.on('message', (r: VerifyResult) => {
        const p = this.pending.get(r.jobId);
        if (p === undefined) return;
        this.pending.delete(r.jobId);
        p.resolve(r.ok);
      });
      w.on('error', (err) => this.failAll(err));
      w.unref();
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.threadCount;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(new PheromonesError('internal', `signature worker failed: ${err.message}`, { cause: err }));
    this.pending.clear();
  }

  private run(worker: Worker, txs: readonly Transaction[]): Promise<Uint8Array> {
    const jobId = this.nextJob++;
    const job: VerifyJob = {
      jobId,
      messages: txs.map((t) => t.signingBytes),
      signatures: txs.map((t) => t.signature),
      keys: txs.map((t) => t.author),
    };
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(jobId, { resolve, reject });
      worker.ref();
      worker.postMessage(job);
    }).finally(() => {
      if (this.pending.size === 0) for (const w of this.workers) w.unref();
    });
  }

  async verify(txs: readonly Transaction[]): Promise<number> {
    if (this.closed) throw new PheromonesError('failed-precondition', 'signature verifier is closed');
    const todo: number[] = [];
    for (let i = 0; i < txs.length; i++) if (!this.cache.has(txs[i]!)) todo.push(i);
    if (todo.length === 0) return -1;
    if (todo.length < this.inlineBelow) {
      for (const i of todo) {
        if (!verifyTransactionSignature(txs[i]!)) return i;
        this.cache.add(txs[i]!);
      }
      return -1;
    }
    this.startWorkers();
    const chunks = Math.min(this.workers.length, todo.length);
    const size = Math.ceil(todo.length / chunks);
    const parts: Promise<Uint8Array>[] = [];
    for (let c = 0; c < chunks; c++) {
      const idx = todo.slice(c * size, (c + 1) * size);
      const worker = this.workers[this.next++ % this.workers.length]!;
      parts.push(this.run(worker, idx.map((i) => txs[i]!)));
    }
    const results = await Promise.all(parts);
    let firstBad = -1;
    for (let c = 0; c < chunks; c++) {
      const ok = results[c]!;
      for (let k = 0; k < ok.length; k++) {
        const i = todo[c * size + k]!;
        if (ok[k] === 1) this.cache.add(txs[i]!);
        else if (firstBad === -1 || i < firstBad) firstBad = i;
      }
    }
    return firstBad;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('verifier closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
