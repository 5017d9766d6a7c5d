import { EventEmitter } from 'node:events';
import { PheromonesError } from '../errors.js';
import { bytesEqual, compareBytes, toHex } from './bytes.js';
import { computeMerkleRoot, makeBlock, type Block } from './block.js';
import { HEADER_VERSION, workOf, type BlockHeader } from './header.js';
import { genesisBlock, type ChainParams } from './params.js';
import { expectedTarget } from './retarget.js';
import type { ChainStore } from './store.js';
import type { Transaction } from './transaction.js';
import { checkBlockStandalone, checkHeaderContext, medianOf } from './validate.js';
import { InlineVerifier, type SignatureVerifier } from './verifier.js';

/** One block in the in-memory index; every stored block (canonical or side) has one. */
/** Block bodies read at once when answering a locator. */
const LOCATOR_READ_SLICE = 25;

export interface ChainEntry {
  readonly hash: Uint8Array;
  readonly hashHex: string;
  readonly header: BlockHeader;
  readonly height: number;
  /** Cumulative work from genesis through this block. */
  readonly work: bigint;
  readonly parent: ChainEntry | undefined;
}

export type AddStatus = 'connected' | 'side' | 'orphan' | 'duplicate' | 'invalid';

export interface Reorg {
  /** Blocks that left the canonical chain, lowest height first. */
  removed: Block[];
  /** Blocks that joined it, lowest height first (ends with the new head). */
  added: Block[];
}

export interface AddBlockResult {
  status: AddStatus;
  hash: Uint8Array;
  /** Why the block was rejected ('invalid'). */
  reason?: string;
  /**
   * For 'invalid': true when the block fails only against this node's own
   * state (its clock), so that whoever relayed it did nothing provably wrong.
   */
  local?: boolean;
  /** Set when connecting the block switched branches. */
  reorg?: Reorg;
  /** For 'orphan': the hash of the block we lack to connect it. */
  missing?: Uint8Array;
  /** Orphans that could be connected (or stored as side blocks) after this block arrived. */
  orphansAdopted?: number;
}

/** A change of the canonical chain: `removed` left it, `added` joined it. Plain extension has removed = []. */
export interface TipChange extends Reorg {
  head: ChainEntry;
}

export interface ChainEvents {
  /** Every change of the canonical chain (the pool and the miner follow this). */
  tip: [TipChange];
  /** Only branch switches that abandoned blocks. */
  reorg: [TipChange];
  /** Every block newly stored, canonical or side, e.g. to relay it. */
  block: [Block, 'connected' | 'side'];
}

export interface ChainOptions {
  verifier?: SignatureVerifier;
  /** The clock used for the future-timestamp rule. */
  now?: () => number;
  maxOrphans?: number;
  maxOrphanBytes?: number;
  /** Hashes remembered as invalid so they are rejected without work. */
  maxInvalid?: number;
}

interface Orphan {
  block: Block;
  bytes: number;
}

/**
 * The block tree and the canonical chain. All mutations go through one
 * queue, so addBlock calls never interleave; reads are synchronous over the
 * in-memory index except for block bodies, which stay in LevelDB.
 */
export class Chain extends EventEmitter<ChainEvents> {
  private readonly index = new Map<string, ChainEntry>();
  /** Canonical chain by height. */
  private main: ChainEntry[] = [];
  private readonly orphans = new Map<string, Orphan>();
  private readonly orphansByPrev = new Map<string, Set<string>>();
  private orphanBytes = 0;
  private readonly invalid = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly verifier: SignatureVerifier;
  private readonly now: () => number;
  private readonly maxOrphans: number;
  private readonly maxOrphanBytes: number;
  private readonly maxInvalid: number;
  private version = 0;

  private constructor(
    readonly store: ChainStore,
    readonly params: ChainParams,
    options: ChainOptions,
  ) {
    super();
    this.verifier = options.verifier ?? new InlineVerifier();
    this.now = options.now ?? Date.now;
    this.maxOrphans = options.maxOrphans ?? 64;
    this.maxOrphanBytes = options.maxOrphanBytes ?? 32 * 1024 * 1024;
    this.maxInvalid = options.maxInvalid ?? 10_000;
  }

  /**
   * Load (or initialise) the chain in `store`. If the head record points at
   * a block that is not completely stored, walks back to the nearest
   * ancestor that is, and repairs the canonical indexes to match.
   */
  static async open(store: ChainStore, params: ChainParams, options: ChainOptions = {}): Promise<Chain> {
    const chain = new Chain(store, params, options);
    await chain.load();
    return chain;
  }

  /** Bumped on every canonical change; lets async readers detect they raced a block. */
  get tipVersion(): number {
    return this.version;
  }

  get head(): ChainEntry {
    return this.main[this.main.length - 1]!;
  }

  get height(): number {
    return this.main.length - 1;
  }

  get genesis(): ChainEntry {
    return this.main[0]!;
  }

  private async load(): Promise<void> {
    const g = genesisBlock(this.params);
    const stored = await this.store.genesis();
    if (stored === undefined) {
      await this.store
        .batch()
        .putBlock(g, workOf(g.header.target))
        .putCanonical(0, g.hash)
        .setGenesis(g.hash)
        .setHead(g.hash)
        .write();
    } else if (!bytesEqual(stored, g.hash)) {
      throw new PheromonesError(
        'wrong-network',
        `the chain data was created for another network (genesis ${toHex(stored).slice(0, 16)}, expected ${g.hashHex.slice(0, 16)} for ${this.params.network}); use a separate data dir`,
      );
    }

    // Link every stored header to its parent, lowest height first.
    const records = [];
    for await (const r of this.store.headers()) records.push(r);
    records.sort((a, b) => a.header.height - b.header.height);
    for (const r of records) {
      const hex = toHex(r.hash);
      if (r.header.height === 0) {
        if (hex === g.hashHex) this.index.set(hex, { hash: r.hash, hashHex: hex, header: r.header, height: 0, work: workOf(r.header.target), parent: undefined });
        continue;
      }
      const parent = this.index.get(toHex(r.header.prevHash));
      if (parent === undefined || parent.height + 1 !== r.header.height) continue;
      this.index.set(hex, { hash: r.hash, hashHex: hex, header: r.header, height: r.header.height, work: parent.work + workOf(r.header.target), parent });
    }
    const genesis = this.index.get(g.hashHex);
    if (genesis === undefined) throw new PheromonesError('internal', 'the chain data lacks its genesis header; the data dir is damaged');

    const repair = this.store.batch();
    // The head candidate: the head record, else the highest canonical entry we have a header for.
    const headHash = await this.store.head();
    let head = headHash === undefined ? undefined : this.index.get(toHex(headHash));
    if (head === undefined) {
      for await (const [, hash] of this.store.canonical()) {
        const e = this.index.get(toHex(hash));
        if (e !== undefined && (head === undefined || e.height > head.height)) head = e;
      }
    }
    head ??= genesis;
    // Walk back past blocks whose body did not make it to disk.
    while (head.parent !== undefined && !(await this.store.hasBlock(head.hash))) {
      repair.deleteBlock(head.hash);
      this.index.delete(head.hashHex);
      head = head.parent;
    }

    const main: ChainEntry[] = new Array(head.height + 1);
    for (let e: ChainEntry | undefined = head; e !== undefined; e = e.parent) main[e.height] = e;
    this.main = main;

    // Make the canonical index match the head's ancestry: additions, then the head, then removals.
    const seen = new Set<number>();
    const above: number[] = [];
    for await (const [height, hash] of this.store.canonical()) {
      if (height > head.height) above.push(height);
      else if (bytesEqual(hash, main[height]!.hash)) seen.add(height);
    }
    for (let h = 0; h <= head.height; h++) {
      if (seen.has(h)) continue;
      const e = main[h]!;
      repair.putCanonical(h, e.hash);
      const body = await this.store.getBlock(e.hash);
      const txs = body?.txs ?? [];
      const lists = await this.store.getTxBlocks(txs.map((t) => t.id));
      txs.forEach((t, i) => {
        if (!lists[i]!.some((x) => bytesEqual(x, e.hash))) repair.putTxBlocks(t.id, [...lists[i]!, e.hash]);
      });
    }
    if (headHash === undefined || !bytesEqual(headHash, head.hash)) repair.setHead(head.hash);
    for (const h of above) repair.deleteCanonical(h);
    if (repair.ops.length > 0) await repair.write();

    // A stored block may beat the head if a write stopped before its head
    // pointer: apply fork choice once more. Each pass either moves the head
    // or discards a branch, so this ends.
    for (let pass = 0; pass <= this.index.size; pass++) {
      let best = this.head;
      for (const e of this.index.values()) if (this.beats(e, best)) best = e;
      if (best === this.head) break;
      await this.switchTo(best, await this.loadBody(best));
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Validate and store a block, connecting it (possibly through a reorg) if
   * its branch has the most work. `signaturesChecked` skips signature checks
   * for callers that verified them already (importBlocks).
   */
  addBlock(block: Block, options: { signaturesChecked?: boolean } = {}): Promise<AddBlockResult> {
    return this.serial(async () => {
      const result = await this.addOne(block, options.signaturesChecked ?? false);
      if (result.status === 'connected' || result.status === 'side') {
        const adopted = await this.adoptOrphans(block.hashHex);
        if (adopted > 0) result.orphansAdopted = adopted;
      }
      return result;
    });
  }

  /**
   * Add many blocks in order, verifying all their signatures up front in one
   * call (spread over the verifier's workers) rather than block by block.
   */
  async importBlocks(blocks: readonly Block[]): Promise<AddBlockResult[]> {
    const all: Transaction[] = [];
    for (const b of blocks) all.push(...b.txs);
    const bad = all.length === 0 ? -1 : await this.verifier.verify(all);
    const results: AddBlockResult[] = [];
    for (const b of blocks) {
      // When some signature failed, let each block be checked on its own so the right one is rejected.
      results.push(await this.addBlock(b, { signaturesChecked: bad === -1 }));
    }
    return results;
  }

  private rememberInvalid(hex: string): void {
    if (this.invalid.size >= this.maxInvalid) this.invalid.delete(this.invalid.values().next().value as string);
    this.invalid.add(hex);
  }

  private isMain(e: ChainEntry): boolean {
    return this.main[e.height] === e;
  }

  /** The ancestor of `e` (inclusive) at `height` on e's own branch. */
  ancestor(e: ChainEntry, height: number): ChainEntry {
    if (height > e.height || height < 0) throw new RangeError(`no ancestor at height ${height}`);
    let cur = e;
    while (cur.height > height) {
      if (this.isMain(cur)) return this.main[height]!;
      cur = cur.parent!;
    }
    return cur;
  }

  /** Median timestamp of the `medianTimeSpan` blocks ending at `e`. */
  medianTimePast(e: ChainEntry): number {
    const ts: number[] = [];
    for (let cur: ChainEntry | undefined = e; cur !== undefined && ts.length < this.params.medianTimeSpan; cur = cur.parent) {
      ts.push(cur.header.timestampMs);
    }
    return medianOf(ts);
  }

  /** The target a child of `parent` must carry. */
  nextTarget(parent: ChainEntry): Uint8Array {
    return expectedTarget(this.params, parent.height + 1, parent.header.target, (k) => this.ancestor(parent, k).header.timestampMs);
  }

  private async addOne(block: Block, signaturesChecked: boolean): Promise<AddBlockResult> {
    const hash = block.hash;
    const hex = block.hashHex;
    const invalid = (reason: string, remember: boolean): AddBlockResult => {
      if (remember) this.rememberInvalid(hex);
      return { status: 'invalid', hash, reason };
    };
    if (this.index.has(hex)) return { status: 'duplicate', hash };
    if (this.invalid.has(hex)) return invalid('block was rejected before', false);
    if (this.orphans.has(hex)) return { status: 'orphan', hash, missing: this.missingFor(block) };

    // Failures that depend only on the header or on the transaction ids are
    // remembered by hash; a wrong merkle root or signature is not, because
    // the same header with the right transactions may still arrive.
    const standalone = checkBlockStandalone(block, this.params);
    if (standalone !== undefined) return invalid(standalone, !standalone.startsWith('merkle'));

    const prevHex = toHex(block.header.prevHash);
    if (this.invalid.has(prevHex)) return invalid('parent block is invalid', true);
    const parent = this.index.get(prevHex);
    if (parent === undefined) {
      if (block.header.height === 0) return invalid('a different genesis block', true);
      this.addOrphan(block);
      return { status: 'orphan', hash, missing: this.missingFor(block) };
    }

    const headerReason = checkHeaderContext(
      block,
      {
        parentHash: parent.hash,
        parentHeight: parent.height,
        medianTimePastMs: this.medianTimePast(parent),
        expectedTarget: this.nextTarget(parent),
        nowMs: this.now(),
      },
      this.params,
    );
    // Too far in the future by our clock: may become valid later, so neither remembered nor the sender's fault.
    if (headerReason !== undefined) {
      const future = headerReason.includes('future');
      return future ? { ...invalid(headerReason, false), local: true } : invalid(headerReason, true);
    }

    if (!signaturesChecked && block.txs.length > 0) {
      const bad = await this.verifier.verify(block.txs);
      if (bad >= 0) return invalid(`transaction ${block.txs[bad]!.idHex.slice(0, 16)} has an invalid signature`, false);
    }

    const entry: ChainEntry = {
      hash,
      hashHex: hex,
      header: block.header,
      height: block.header.height,
      work: parent.work + workOf(block.header.target),
      parent,
    };
    if (!this.beats(entry, this.head)) {
      await this.store.batch().putBlock(block, entry.work).write();
      this.index.set(hex, entry);
      this.emit('block', block, 'side');
      return { status: 'side', hash };
    }
    return this.switchTo(entry, block);
  }

  /** Fork choice: more cumulative work wins; equal work goes to the lower hash. */
  private beats(a: ChainEntry, b: ChainEntry): boolean {
    if (a.work !== b.work) return a.work > b.work;
    return compareBytes(a.hash, b.hash) < 0;
  }

  private async loadBody(e: ChainEntry): Promise<Block> {
    const b = await this.store.getBlock(e.hash);
    if (b === undefined) throw new PheromonesError('internal', `block ${e.hashHex} is indexed but not stored`);
    return b;
  }

  /** Make `entry` (whose body is `block`) the head: plain extension or reorg, in one batch. */
  private async switchTo(entry: ChainEntry, block: Block): Promise<AddBlockResult> {
    const path: ChainEntry[] = [entry];
    let fork = entry.parent!;
    while (!this.isMain(fork)) {
      path.unshift(fork);
      fork = fork.parent!;
    }
    const removedEntries = this.main.slice(fork.height + 1);
    const removed = await Promise.all(removedEntries.map((e) => this.loadBody(e)));
    const added = await Promise.all(path.map((e) => (e === entry ? block : this.loadBody(e))));

    // No transaction twice in the chain: not within the new branch, and not
    // in the part of the canonical chain that stays (at or below the fork).
    const txLists = new Map<string, { id: Uint8Array; hashes: Uint8Array[] }>();
    const allIds: Uint8Array[] = [];
    for (const b of [...removed, ...added]) for (const tx of b.txs) allIds.push(tx.id);
    const lists = await this.store.getTxBlocks(allIds);
    allIds.forEach((id, k) => txLists.set(toHex(id), { id, hashes: lists[k]! }));
    const seen = new Set<string>();
    for (let i = 0; i < added.length; i++) {
      for (const tx of added[i]!.txs) {
        let dup = seen.has(tx.idHex);
        seen.add(tx.idHex);
        for (const h of txLists.get(tx.idHex)!.hashes) {
          const e = this.index.get(toHex(h));
          if (e !== undefined && this.isMain(e) && e.height <= fork.height) dup = true;
        }
        if (dup) {
          await this.discardBranch(path[i]!);
          return { status: 'invalid', hash: entry.hash, reason: `transaction ${tx.idHex.slice(0, 16)} is already in the chain` };
        }
      }
    }

    // Additions, then the head pointer, then removals (see store.ts on ordering).
    const batch = this.store.batch();
    batch.putBlock(block, entry.work);
    for (const b of added) {
      batch.putCanonical(b.header.height, b.hash);
      for (const tx of b.txs) {
        const rec = txLists.get(tx.idHex)!;
        if (!rec.hashes.some((h) => bytesEqual(h, b.hash))) rec.hashes.push(b.hash);
        batch.putTxBlocks(tx.id, rec.hashes);
      }
    }
    batch.setHead(entry.hash);
    for (const b of removed) {
      if (b.header.height > entry.height) batch.deleteCanonical(b.header.height);
      for (const tx of b.txs) {
        const rec = txLists.get(tx.idHex)!;
        rec.hashes = rec.hashes.filter((h) => !bytesEqual(h, b.hash));
        batch.putTxBlocks(tx.id, rec.hashes);
      }
    }
    await batch.write();

    this.index.set(entry.hashHex, entry);
    this.main.length = fork.height + 1;
    this.main.push(...path);
    this.version++;
    const change: TipChange = { removed, added, head: entry };
    this.emit('block', block, 'connected');
    this.emit('tip', change);
    if (removed.length > 0) this.emit('reorg', change);
    return removed.length > 0 ? { status: 'connected', hash: entry.hash, reorg: { removed, added } } : { status: 'connected', hash: entry.hash };
  }

  /** Forget `bad` and everything built on it: memory, disk and the invalid set. */
  private async discardBranch(bad: ChainEntry): Promise<void> {
    const doomed: ChainEntry[] = [];
    for (const e of this.index.values()) {
      if (e.height >= bad.height && this.ancestor(e, bad.height) === bad) doomed.push(e);
    }
    const batch = this.store.batch();
    for (const e of doomed) batch.deleteBlock(e.hash);
    batch.deleteBlock(bad.hash);
    await batch.write();
    for (const e of doomed) {
      this.index.delete(e.hashHex);
      this.rememberInvalid(e.hashHex);
    }
    this.rememberInvalid(bad.hashHex);
  }

  private addOrphan(block: Block): void {
    const bytes = block.txs.reduce((n, tx) => n + tx.signingBytes.length + 64, 157);
    while (this.orphans.size > 0 && (this.orphans.size >= this.maxOrphans || this.orphanBytes + bytes > this.maxOrphanBytes)) {
      this.dropOrphan(this.orphans.keys().next().value as string);
    }
    if (bytes > this.maxOrphanBytes) return;
    this.orphans.set(block.hashHex, { block, bytes });
    this.orphanBytes += bytes;
    const prev = toHex(block.header.prevHash);
    let set = this.orphansByPrev.get(prev);
    if (set === undefined) this.orphansByPrev.set(prev, (set = new Set()));
    set.add(block.hashHex);
  }

  private dropOrphan(hex: string): Orphan | undefined {
    const o = this.orphans.get(hex);
    if (o === undefined) return undefined;
    this.orphans.delete(hex);
    this.orphanBytes -= o.bytes;
    const prev = toHex(o.block.header.prevHash);
    const set = this.orphansByPrev.get(prev);
    set?.delete(hex);
    if (set?.size === 0) this.orphansByPrev.delete(prev);
    return o;
  }

  /** Follow orphan parents down to the first block we have neither stored nor pooled. */
  private missingFor(block: Block): Uint8Array {
    let prev = block.header.prevHash;
    for (let i = 0; i <= this.orphans.size; i++) {
      const o = this.orphans.get(toHex(prev));
      if (o === undefined) break;
      prev = o.block.header.prevHash;
    }
    return prev;
  }

  /** Connect orphans whose parent just arrived, breadth first. */
  private async adoptOrphans(parentHex: string): Promise<number> {
    let adopted = 0;
    const queue = [parentHex];
    while (queue.length > 0) {
      const children = this.orphansByPrev.get(queue.shift()!);
      if (children === undefined) continue;
      for (const hex of [...children]) {
        const o = this.dropOrphan(hex);
        if (o === undefined) continue;
        const r = await this.addOne(o.block, false);
        if (r.status === 'connected' || r.status === 'side') {
          adopted++;
          queue.push(hex);
        }
      }
    }
    return adopted;
  }

  get orphanCount(): number {
    return this.orphans.size;
  }

  /** Hashes of blocks we need in order to connect pooled orphans (ask peers for these). */
  missingParents(): Uint8Array[] {
    const out = new Map<string, Uint8Array>();
    for (const o of this.orphans.values()) {
      const prev = toHex(o.block.header.prevHash);
      if (!this.orphans.has(prev) && !this.index.has(prev)) out.set(prev, o.block.header.prevHash);
    }
    return [...out.values()];
  }

  getEntry(hash: Uint8Array | string): ChainEntry | undefined {
    return this.index.get(typeof hash === 'string' ? hash : toHex(hash));
  }

  /** The canonical entry at `height`, if the chain is that long. */
  entryAt(height: number): ChainEntry | undefined {
    return this.main[height];
  }

  isCanonical(hash: Uint8Array | string): boolean {
    const e = this.getEntry(hash);
    return e !== undefined && this.isMain(e);
  }

  async getBlock(hash: Uint8Array | string): Promise<Block | undefined> {
    const e = this.getEntry(hash);
    return e === undefined ? undefined : this.store.getBlock(e.hash);
  }

  async getBlockAt(height: number): Promise<Block | undefined> {
    const e = this.main[height];
    return e === undefined ? undefined : this.store.getBlock(e.hash);
  }

  /** Where a transaction sits in the canonical chain, if it does. */
  async findTransactions(ids: readonly Uint8Array[]): Promise<(ChainEntry | undefined)[]> {
    const found = await this.store.getTxBlocks(ids);
    return found.map((hashes) => {
      for (const h of hashes) {
        const e = this.index.get(toHex(h));
        if (e !== undefined && this.isMain(e)) return e;
      }
      return undefined;
    });
  }

  /**
   * Bitcoin's block locator: the head, then hashes stepping back 1, 1, …
   * (ten times), then doubling the step, always ending at genesis. Lets a
   * peer find where our chains diverge in O(log n) hashes.
   */
  locator(from: ChainEntry = this.head): Uint8Array[] {
    const out: Uint8Array[] = [];
    let step = 1;
    let h = from.height;
    while (true) {
      out.push(this.ancestor(from, h).hash);
      if (h === 0) break;
      if (out.length >= 10) step *= 2;
      h = Math.max(0, h - step);
    }
    return out;
  }

  /** The first locator hash on our canonical chain (genesis if none): the fork point with the asker. */
  forkPointOf(locator: readonly Uint8Array[]): ChainEntry {
    for (const hash of locator) {
      const e = this.getEntry(hash);
      if (e !== undefined && this.isMain(e)) return e;
    }
    return this.genesis;
  }

  /**
   * Up to `max` canonical blocks following the fork point with `locator`,
   * lowest first, stopping before the first one `take` refuses. Bodies are
   * read a slice at a time, so a reply cut short (by a byte budget) does not
   * read and decode the hundreds of blocks it will not carry.
   */
  async blocksAfterLocator(locator: readonly Uint8Array[], max: number, take: (b: Block) => boolean = () => true): Promise<Block[]> {
    const start = this.forkPointOf(locator).height + 1;
    const entries = this.main.slice(start, start + Math.max(0, max));
    const out: Block[] = [];
    // Slices grow from a few blocks: a reply that a byte budget cuts after a handful of large blocks
    // should not have read and decoded many more than it sends.
    for (let i = 0, slice = 4; i < entries.length; i += slice, slice = Math.min(LOCATOR_READ_SLICE, slice * 2)) {
      for (const b of await Promise.all(entries.slice(i, i + slice).map((e) => this.loadBody(e)))) {
        if (!take(b)) return out;
        out.push(b);
      }
    }
    return out;
  }

  /**
   * A header for a block on top of the current head with `txs`, ready for
   * nonce search: the required target, a timestamp of now (but after the
   * median of recent blocks) and nonce 0.
   */
  blockTemplate(miner: Uint8Array, txs: readonly Transaction[]): { header: BlockHeader; txs: readonly Transaction[] } {
    const parent = this.head;
    const header: BlockHeader = {
      version: HEADER_VERSION,
      height: parent.height + 1,
      prevHash: parent.hash,
      timestampMs: Math.max(this.now(), this.medianTimePast(parent) + 1),
      merkleRoot: computeMerkleRoot(txs),
      target: this.nextTarget(parent),
      nonce: 0n,
      miner,
    };
    return { header, txs };
  }

  /** Builds a Block from a template whose nonce was found; convenience for miners. */
  static sealed(header: BlockHeader, nonce: bigint, txs: readonly Transaction[]): Block {
    return makeBlock({ ...header, nonce }, txs);
  }
}
