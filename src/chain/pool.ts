import { EventEmitter } from 'node:events';
import type { Chain, TipChange } from './chain.js';
import { checkTransactionShape, txSize, type Transaction } from './transaction.js';
import { InlineVerifier, type SignatureVerifier } from './verifier.js';

export interface TxPoolOptions {
  maxTxs?: number;
  maxBytes?: number;
  /** Share the chain's verifier so a transaction verified here is not verified again in a block. */
  verifier?: SignatureVerifier;
  now?: () => number;
}

export type AddTxResult = { accepted: true } | { accepted: false; reason: string };

export interface TxPoolEvents {
  added: [Transaction];
}

/**
 * Verified transactions waiting for a block. Bounded by count and canonical
 * bytes; when full, the oldest arrival is evicted. Transactions returned by
 * a reorg are kept apart and go first, both into the next block and last
 * out on eviction, so an abandoned block loses no message unless the pool
 * holds nothing else to evict.
 */
export class TxPool extends EventEmitter<TxPoolEvents> {
  /** Returned by reorgs, in chain order. */
  private readonly returned = new Map<string, Transaction>();
  /** Arrived from clients and peers, oldest first (Map keeps insertion order). */
  private readonly fresh = new Map<string, Transaction>();
  private bytes = 0;
  private readonly maxTxs: number;
  private readonly maxBytes: number;
  private readonly verifier: SignatureVerifier;
  private readonly now: () => number;
  private readonly onTip = (change: TipChange): void => this.applyTipChange(change);

  constructor(
    private readonly chain: Chain,
    options: TxPoolOptions = {},
  ) {
    super();
    this.maxTxs = options.maxTxs ?? 10_000;
    this.maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
    this.verifier = options.verifier ?? new InlineVerifier();
    this.now = options.now ?? Date.now;
    chain.on('tip', this.onTip);
  }

  /** Stop following the chain. */
  detach(): void {
    this.chain.off('tip', this.onTip);
  }

  get size(): number {
    return this.returned.size + this.fresh.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  has(idHex: string): boolean {
    return this.returned.has(idHex) || this.fresh.has(idHex);
  }

  get(idHex: string): Transaction | undefined {
    return this.returned.get(idHex) ?? this.fresh.get(idHex);
  }

  /** Every pooled transaction, in the order take() would pick them. */
  all(): Transaction[] {
    return [...this.returned.values(), ...this.fresh.values()];
  }

  /**
   * Verify and admit a transaction: shape and size limits, not dated in the
   * future, signature, not already pooled, not already in the chain.
   */
  async add(tx: Transaction): Promise<AddTxResult> {
    const params = this.chain.params;
    const shape = checkTransactionShape(tx, params);
    if (shape !== undefined) return { accepted: false, reason: shape };
    const size = txSize(tx);
    if (size > this.maxBytes) return { accepted: false, reason: `transaction of ${size} bytes exceeds the pool limit` };
    if (tx.timestampMs > this.now() + params.maxFutureMs) return { accepted: false, reason: 'timestamp is too far in the future' };
    if (this.has(tx.idHex)) return { accepted: false, reason: 'already in the pool' };
    if ((await this.verifier.verify([tx])) !== -1) return { accepted: false, reason: 'invalid signature' };
    // The chain may move while we look; look again until it held still.
    for (let attempt = 0; ; attempt++) {
      const version = this.chain.tipVersion;
      const [where] = await this.chain.findTransactions([tx.id]);
      if (where !== undefined) return { accepted: false, reason: `already in the chain at height ${where.height}` };
      if (version === this.chain.tipVersion) break;
      if (attempt >= 5) return { accepted: false, reason: 'the chain is changing too fast; retry' };
    }
    if (this.has(tx.idHex)) return { accepted: false, reason: 'already in the pool' };
    this.fresh.set(tx.idHex, tx);
    this.bytes += size;
    this.evict();
    if (!this.has(tx.idHex)) return { accepted: false, reason: 'pool is full' };
    this.emit('added', tx);
    return { accepted: true };
  }

  private evict(): void {
    while (this.size > this.maxTxs || this.bytes > this.maxBytes) {
      const from = this.fresh.size > 0 ? this.fresh : this.returned;
      const oldest = from.keys().next().value as string;
      this.bytes -= txSize(from.get(oldest)!);
      from.delete(oldest);
    }
  }

  /** Up to `maxTxs` transactions totalling at most `maxBytes`, returned-by-reorg first, then oldest. Does not remove them. */
  take(maxTxs: number, maxBytes = Number.MAX_SAFE_INTEGER): Transaction[] {
    const out: Transaction[] = [];
    let bytes = 0;
    for (const tx of this.all()) {
      if (out.length >= maxTxs) break;
      const size = txSize(tx);
      if (bytes + size > maxBytes) continue;
      out.push(tx);
      bytes += size;
    }
    return out;
  }

  remove(idHexes: Iterable<string>): void {
    for (const id of idHexes) {
      const tx = this.get(id);
      if (tx === undefined) continue;
      this.bytes -= txSize(tx);
      this.returned.delete(id);
      this.fresh.delete(id);
    }
  }

  /** Drop what the chain now holds; give back what it abandoned. */
  private applyTipChange(change: TipChange): void {
    const nowIncluded = new Set<string>();
    for (const b of change.added) for (const tx of b.txs) nowIncluded.add(tx.idHex);
    this.remove(nowIncluded);
    for (const b of change.removed) {
      for (const tx of b.txs) {
        if (nowIncluded.has(tx.idHex) || this.has(tx.idHex)) continue;
        this.returned.set(tx.idHex, tx);
        this.bytes += txSize(tx);
      }
    }
    this.evict();
  }
}
