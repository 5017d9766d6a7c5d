import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { PheromonesError } from '../errors.js';
import { makeBlock, type Block } from './block.js';
import type { AddBlockResult, Chain } from './chain.js';
import { encodeHeader, HEADER_BYTES, type BlockHeader } from './header.js';
import type { MineJob, MineReply } from './miner-worker.js';
import type { TxPool } from './pool.js';

export interface MinerOptions {
  /** 33-byte public key written into mined headers. */
  minerKey: Uint8Array;
  /** Mine blocks without transactions (otherwise wait for the pool). */
  mineEmpty?: boolean;
  /** Transactions per block; defaults to the network's limit. */
  maxTxs?: number;
  /** Nonces per worker job before the template (timestamp, transactions) is refreshed. */
  hashesPerJob?: number;
}

export interface MinerEvents {
  mined: [Block, AddBlockResult];
  error: [Error];
}

export interface SearchOutcome {
  header: BlockHeader | undefined;
  hashes: number;
  elapsedMs: number;
  aborted: boolean;
}

/**
 * Proof-of-work search in a worker thread, so the event loop (networking,
 * gRPC) never waits on hashing. One worker per Miner; a job is aborted
 * through a shared flag the moment the chain's head changes.
 */
export class Miner extends EventEmitter<MinerEvents> {
  private worker: Worker | undefined;
  private readonly abortFlag = new Int32Array(new SharedArrayBuffer(4));
  private nextJob = 1;
  private pending: { jobId: number; resolve: (r: MineReply) => void; reject: (e: Error) => void } | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly onTip = (): void => {
    Atomics.store(this.abortFlag, 0, 1);
    this.wake?.();
  };
  private readonly onTx = (): void => this.wake?.();
  /** Totals since construction, for hash rate reporting. */
  hashes = 0;
  busyMs = 0;
  blocksMined = 0;

  constructor(
    private readonly chain: Chain,
    private readonly pool: TxPool,
    private readonly options: MinerOptions,
  ) {
    super();
    if (options.minerKey.length !== 33) throw new PheromonesError('invalid-argument', 'miner key must be a 33-byte compressed public key');
  }

  get isRunning(): boolean {
    return this.running;
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(new URL('./miner-worker.js', import.meta.url));
    w.on('message', (r: MineReply) => {
      const p = this.pending;
      if (p === undefined || p.jobId !== r.jobId) return;
      this.pending = undefined;
      p.resolve(r);
    });
    w.on('error', (err) => {
      this.pending?.reject(err);
      this.pending = undefined;
      this.worker = undefined;
    });
    this.worker = w;
    return w;
  }

  /** Search nonces for `header` in the worker (at most `maxHashes`), from a random start so miners sharing a key do not collide. */
  search(header: BlockHeader, maxHashes: number): Promise<SearchOutcome> {
    if (this.pending !== undefined) return Promise.reject(new PheromonesError('failed-precondition', 'a search is already running'));
    const worker = this.ensureWorker();
    const jobId = this.nextJob++;
    Atomics.store(this.abortFlag, 0, 0);
    const job: MineJob = {
      jobId,
      header: encodeHeader(header),
      target: header.target,
      startNonce: randomBytes(8).readBigUInt64BE(0),
      maxHashes,
      abort: this.abortFlag,
    };
    return new Promise<MineReply>((resolve, reject) => {
      this.pending = { jobId, resolve, reject };
      worker.postMessage(job);
    }).then((r) => {
      this.hashes += r.hashes;
      this.busyMs += r.elapsedMs;
      return {
        header: r.nonce === undefined ? undefined : { ...header, nonce: r.nonce },
        hashes: r.hashes,
        elapsedMs: r.elapsedMs,
        aborted: r.aborted,
      };
    });
  }

  /** Stop the running search, if any (it resolves with aborted = true). */
  abort(): void {
    Atomics.store(this.abortFlag, 0, 1);
  }

  /**
   * Mine one block on the current head with pooled transactions and add it
   * to the chain. Resolves undefined when the head moved first or the job
   * ran out of nonces without a find.
   */
  async mineOnce(): Promise<{ block: Block; result: AddBlockResult } | undefined> {
    const params = this.chain.params;
    const txs = this.pool.take(this.options.maxTxs ?? params.maxBlockTxs, params.maxBlockBytes - HEADER_BYTES);
    if (txs.length === 0 && this.options.mineEmpty !== true) return undefined;
    const template = this.chain.blockTemplate(this.options.minerKey, txs);
    const tipVersion = this.chain.tipVersion;
    this.chain.on('tip', this.onTip);
    let outcome: SearchOutcome;
    try {
      outcome = await this.search(template.header, this.options.hashesPerJob ?? 20_000_000);
    } finally {
      this.chain.off('tip', this.onTip);
    }
    if (outcome.header === undefined || this.chain.tipVersion !== tipVersion) return undefined;
    const block = makeBlock(outcome.header, txs);
    const result = await this.chain.addBlock(block);
    if (result.status === 'invalid') await this.dropStale(txs);
    else this.blocksMined++;
    this.emit('mined', block, result);
    return { block, result };
  }

  /** A mined block was refused: drop pooled transactions the chain already holds so the next template is valid. */
  private async dropStale(txs: Block['txs']): Promise<void> {
    const where = await this.chain.findTransactions(txs.map((t) => t.id));
    this.pool.remove(txs.filter((_, i) => where[i] !== undefined).map((t) => t.idHex));
  }

  /** Mine continuously until stop(); waits for transactions unless mineEmpty. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.pool.on('added', this.onTx);
    this.loop = (async () => {
      while (this.running) {
        try {
          const before = this.hashes;
          if (this.options.mineEmpty === true || this.pool.size > 0) await this.mineOnce();
          // Nothing was searched (no usable transactions): sleep until the pool or the head changes.
          if (this.running && this.hashes === before) await this.idle(5_000);
        } catch (err) {
          if (!this.running) break;
          this.emit('error', err as Error);
          // A broken worker would fail again at once; pause before retrying.
          await this.idle(1_000);
        }
      }
    })();
  }

  /** Wait until a transaction arrives, the head changes, stop() is called, or `ms` pass. */
  private idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.chain.off('tip', done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.chain.on('tip', done);
      this.wake = done;
    });
  }

  async stop(): Promise<void> {
    if (!this.running) {
      await this.close();
      return;
    }
    this.running = false;
    this.pool.off('added', this.onTx);
    this.abort();
    this.wake?.();
    await this.loop;
    await this.close();
  }

  private async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.pending?.reject(new PheromonesError('unavailable', 'miner stopped'));
    this.pending = undefined;
    if (w !== undefined) await w.terminate();
  }
}
