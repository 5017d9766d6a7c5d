import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import {
  ChainBlocksSchema,
  ChainGetBlocksSchema,
  ChainNewBlockSchema,
  ChainStatusSchema,
  ChainTransactionsSchema,
  type ChainBlocks,
  type ChainGetBlocks,
  type ChainStatus,
  type Envelope,
} from '../gen/pheromones/wire/v1/wire_pb.js';
import type { DisconnectCause } from '../peer/types.js';
import { envelope, type Peer } from '../peer/peer.js';
import type { EnvelopeCase, Protocol } from '../peer/protocol.js';
import { blockSize, type Block } from './block.js';
import { bigIntToBytes, bytesEqual, bytesToBigInt, compareBytes, toHex } from './bytes.js';
import type { Chain, TipChange } from './chain.js';
import { blockFromProto, blockToProto, txFromProto, txToProto } from './codec.js';
import type { AddTxResult, TxPool } from './pool.js';
import { checkTransactionShape, type Transaction } from './transaction.js';

/** Wire limits of the chain protocol (docs/protocol.md, "Chain"). */
export const MAX_LOCATOR_HASHES = 64;
export const MAX_BLOCKS_PER_REPLY = 500;
export const MAX_TXS_PER_FRAME = 256;
/** A peer that does not answer a block request by then is asked no more; another one is tried. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Head changes are announced at most this often (a sync connects hundreds of blocks a second). */
const STATUS_INTERVAL_MS = 200;
/** Transactions to relay are collected this long and sent in one frame per peer. */
const TX_FLUSH_MS = 50;
/** Chain messages of one peer waiting to be handled before it counts as a flood. */
const MAX_QUEUED_MESSAGES = 256;
/**
 * Bytes of blocks in one GetBlocks reply. Encoding a reply on one side and
 * decoding and importing it on the other each hold the event loop; a smaller
 * reply keeps the gossip sharing the session from waiting behind it.
 */
const REPLY_BUDGET_BYTES = 256 * 1024;
/** Timed-out block requests whose answers are still accepted as late rather than unasked. */
const MAX_LATE_REPLIES = 8;
/** Transaction ids remembered per peer as already known to it. */
const KNOWN_TXS_PER_PEER = 20_000;

/** What a peer last told us about its chain, and our requests to it. */
interface PeerState {
  readonly peer: Peer;
  height: number;
  work: bigint;
  headHash: Uint8Array;
  /** Block requests sent and not answered yet. */
  inflight: number;
  /** Requests that timed out: an answer to one may still come, and is late, not unasked. */
  late: number;
  timer: NodeJS.Timeout | undefined;
  /** Ids the peer sent us or we sent it. */
  readonly known: Set<string>;
  pendingTxs: Transaction[];
  flushTimer: NodeJS.Timeout | undefined;
  /** Messages of one peer are handled in arrival order. */
  queue: Promise<unknown>;
  queued: number;
}

export interface SyncStatus {
  syncing: boolean;
  height: number;
  /** The best height a peer whose head beats ours reported; our height if none. */
  targetHeight: number;
  percent: number;
  chainPeers: number;
  syncPeer: string;
  blocksImported: number;
}

export interface ChainProtocolOptions {
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Frame limit of the session: a block reply stays well under it. */
  maxFrameBytes: number;
  /** Told when a download from peers starts (true) and when it ends (false). */
  onSyncing?: (syncing: boolean) => void;
}

/**
 * A peer broke the chain rules (invalid block or transaction, unsolicited or
 * malformed message). The one place a misbehaving chain peer is punished:
 * thrown from a handler, the peer layer closes the session with
 * PROTOCOL_VIOLATION and adds misbehaviour points (MISBEHAVIOUR.protocolError
 * in src/peer/peer-manager.ts); enough of them ban the peer.
 */
export function chainMisbehaviour(peer: Peer, reason: string): PheromonesError {
  return new PheromonesError('protocol-violation', `chain: ${reason} (peer ${peer.id.slice(0, 16)})`);
}

const CASES = ['chainStatus', 'chainGetBlocks', 'chainBlocks', 'chainNewBlock', 'chainTransactions'] as const satisfies readonly EnvelopeCase[];

/**
 * The chain protocol: head announcements (Status), locator-based block
 * download (GetBlocks/Blocks), new block relay and transaction relay. Sync
 * has one batch request out at a time, taking turns among the peers whose
 * head beats ours (more work, or as much with a lower hash; it starts with
 * the best);
 * a block whose parent is unknown makes us ask its sender for what we miss.
 */
export class ChainProtocol implements Protocol {
  readonly name = 'chain';
  readonly versions = [1] as const;
  readonly envelopes = CASES;
  private readonly peers = new Map<string, PeerState>();
  private syncPeer: PeerState | undefined;
  private blocksImported = 0;
  private statusTimer: NodeJS.Timeout | undefined;
  private statusDirty = false;
  private stopped = false;
  private readonly onTip = (change: TipChange): void => this.headChanged(change);

  constructor(
    private readonly chain: Chain,
    private readonly pool: TxPool,
    private readonly options: ChainProtocolOptions,
  ) {
    chain.on('tip', this.onTip);
  }

  stop(): void {
    this.stopped = true;
    this.chain.off('tip', this.onTip);
    clearTimeout(this.statusTimer);
    for (const s of this.peers.values()) {
      clearTimeout(s.timer);
      clearTimeout(s.flushTimer);
    }
    this.peers.clear();
  }

  onOpen(peer: Peer): void {
    const state: PeerState = {
      peer,
      height: 0,
      work: 0n,
      headHash: new Uint8Array(32),
      inflight: 0,
      late: 0,
      timer: undefined,
      known: new Set(),
      pendingTxs: [],
      flushTimer: undefined,
      queue: Promise.resolve(),
      queued: 0,
    };
    this.peers.set(peer.id, state);
    peer.send(this.statusEnvelope());
    // Hand over what waits for a block, so a node that joins late mines or relays it too.
    for (const tx of this.pool.all()) this.queueTx(state, tx);
  }

  onClose(peer: Peer, _cause: DisconnectCause): void {
    const s = this.peers.get(peer.id);
    if (s === undefined) return;
    clearTimeout(s.timer);
    clearTimeout(s.flushTimer);
    this.peers.delete(peer.id);
    if (this.syncPeer === s) {
      this.setSyncPeer(undefined);
      this.maybeSync();
    }
  }

  onMessage(peer: Peer, env: Envelope): Promise<void> {
    const s = this.peers.get(peer.id);
    if (s === undefined) return Promise.resolve();
    // Handling is asynchronous (signature checks, LevelDB): a peer may not pile up work faster than we do it.
    // Our own backlog, not proof of anything the peer did: the link goes without a score.
    if (s.queued >= MAX_QUEUED_MESSAGES) {
      return Promise.reject(new PheromonesError('resource-exhausted', `over ${MAX_QUEUED_MESSAGES} chain messages from this peer waiting to be handled`));
    }
    s.queued++;
    const run = s.queue.then(() => this.handle(s, env)).finally(() => s.queued--);
    s.queue = run.catch(() => undefined);
    return run;
  }

  private async handle(s: PeerState, env: Envelope): Promise<void> {
    if (this.stopped || s.peer.closed) return;
    switch (env.kind.case) {
      case 'chainStatus':
        return this.onStatus(s, env.kind.value);
      case 'chainGetBlocks':
        return this.onGetBlocks(s, env.kind.value);
      case 'chainBlocks':
        return this.onBlocks(s, env.kind.value);
      case 'chainNewBlock': {
        const pb = env.kind.value.block;
        if (pb === undefined) throw chainMisbehaviour(s.peer, 'new block message without a block');
        return this.onNewBlock(s, this.decodeBlock(s, () => blockFromProto(pb)));
      }
      case 'chainTransactions': {
        const txs = env.kind.value.transactions;
        if (txs.length > MAX_TXS_PER_FRAME) throw chainMisbehaviour(s.peer, `${txs.length} transactions in one frame (limit ${MAX_TXS_PER_FRAME})`);
        for (const m of txs) {
          const tx = this.decode(s, () => txFromProto(m), 'transaction');
          s.known.add(tx.idHex);
          await this.acceptTransaction(tx, s.peer);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---- status and sync ----

  private statusEnvelope(): Envelope {
    const head = this.chain.head;
    return envelope({
      case: 'chainStatus',
      value: create(ChainStatusSchema, {
        height: BigInt(head.height),
        headHash: head.hash,
        work: bigIntToBytes(head.work, 32),
        genesisHash: this.chain.genesis.hash,
      }),
    });
  }

  private onStatus(s: PeerState, m: ChainStatus): void {
    if (m.headHash.length !== 32 || m.genesisHash.length !== 32 || m.work.length > 32) {
      throw chainMisbehaviour(s.peer, 'malformed status');
    }
    if (!bytesEqual(m.genesisHash, this.chain.genesis.hash)) {
      throw chainMisbehaviour(s.peer, `a different genesis block (${toHex(m.genesisHash).slice(0, 16)})`);
    }
    if (m.height > BigInt(Number.MAX_SAFE_INTEGER)) throw chainMisbehaviour(s.peer, 'status height out of range');
    s.height = Number(m.height);
    s.work = bytesToBigInt(m.work);
    s.headHash = m.headHash;
    this.maybeSync();
  }

  private headChanged(change: TipChange): void {
    // The pool forgets what the chain now holds; peers need not be told those ids again.
    for (const b of change.added) for (const s of this.peers.values()) for (const tx of b.txs) s.known.delete(tx.idHex);
    // Transactions of abandoned blocks are back in our pool (the pool follows 'tip' first):
    // offer them again, so a miner that never saw them (it was on the winning side) can include them.
    for (const b of change.removed) {
      for (const tx of b.txs) {
        if (!this.pool.has(tx.idHex)) continue;
        for (const s of this.peers.values()) {
          s.known.delete(tx.idHex);
          this.queueTx(s, tx);
        }
      }
    }
    if (this.statusTimer !== undefined) {
      this.statusDirty = true;
      return;
    }
    this.sendStatusToAll();
    const tick = (): void => {
      if (this.statusDirty && !this.stopped) {
        this.statusDirty = false;
        this.sendStatusToAll();
        this.statusTimer = setTimeout(tick, STATUS_INTERVAL_MS);
        this.statusTimer.unref();
      } else {
        this.statusTimer = undefined;
      }
    };
    this.statusTimer = setTimeout(tick, STATUS_INTERVAL_MS);
    this.statusTimer.unref();
  }

  private sendStatusToAll(): void {
    if (this.peers.size === 0) return;
    const env = this.statusEnvelope();
    for (const s of this.peers.values()) s.peer.send(env);
  }

  private setSyncPeer(s: PeerState | undefined): void {
    const was = this.syncPeer !== undefined;
    this.syncPeer = s;
    if (was !== (s !== undefined)) this.options.onSyncing?.(s !== undefined);
  }

  /**
   * Whether a peer's reported head beats ours by the fork-choice rule: more
   * work, or equal work and a lower hash. The second case matters: two halves
   * of a partition that mined as many blocks each would otherwise each keep
   * their own head for good once joined, with each half's messages missing
   * from the other's chain, until someone mines again.
   */
  private ahead(s: PeerState): boolean {
    const head = this.chain.head;
    if (s.work !== head.work) return s.work > head.work;
    return compareBytes(s.headHash, head.hash) < 0;
  }

  /** Start downloading from the peer whose head beats ours by the most (most work, then lowest hash). */
  private maybeSync(): void {
    if (this.stopped || this.syncPeer !== undefined) return;
    let best: PeerState | undefined;
    for (const s of this.peers.values()) {
      if (!this.ahead(s)) continue;
      if (best === undefined || s.work > best.work || (s.work === best.work && compareBytes(s.headHash, best.headHash) < 0)) best = s;
    }
    if (best === undefined) return;
    this.setSyncPeer(best);
    this.options.logger.info({ peer: best.peer.id, height: this.chain.height, target: best.height }, `chain sync from ${best.peer.id.slice(0, 16)}: height ${this.chain.height}/${best.height}`);
    this.requestBlocks(best);
  }

  private requestBlocks(s: PeerState): void {
    s.inflight++;
    const locator = this.chain.locator();
    s.peer.send(
      envelope({ case: 'chainGetBlocks', value: create(ChainGetBlocksSchema, { locator, maxBlocks: MAX_BLOCKS_PER_REPLY }) }),
    );
    clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      s.late = Math.min(MAX_LATE_REPLIES, s.late + s.inflight);
      s.inflight = 0;
      this.options.logger.warn({ peer: s.peer.id }, 'chain peer did not answer a block request in time');
      // Not asked again until it announces a new head.
      s.work = 0n;
      if (this.syncPeer === s) {
        this.setSyncPeer(undefined);
        this.maybeSync();
      }
    }, REQUEST_TIMEOUT_MS);
    s.timer.unref();
  }

  private async onGetBlocks(s: PeerState, m: ChainGetBlocks): Promise<void> {
    if (m.locator.length > MAX_LOCATOR_HASHES) throw chainMisbehaviour(s.peer, `locator of ${m.locator.length} hashes (limit ${MAX_LOCATOR_HASHES})`);
    if (m.locator.some((h) => h.length !== 32)) throw chainMisbehaviour(s.peer, 'locator hash not 32 bytes');
    const max = Math.min(m.maxBlocks === 0 ? MAX_BLOCKS_PER_REPLY : m.maxBlocks, MAX_BLOCKS_PER_REPLY);
    // Stay well inside the frame limit: protobuf adds a few bytes per field to the canonical size.
    const budget = Math.min(REPLY_BUDGET_BYTES, Math.floor(this.options.maxFrameBytes / 2));
    let bytes = 0;
    const blocks = await this.chain.blocksAfterLocator(m.locator, max, (b) => {
      const size = blockSize(b) + 16 * b.txs.length + 64;
      if (bytes > 0 && bytes + size > budget) return false;
      bytes += size;
      return true;
    });
    const reply = create(ChainBlocksSchema, { blocks: blocks.map(blockToProto), headHeight: BigInt(this.chain.height) });
    s.peer.send(envelope({ case: 'chainBlocks', value: reply }));
  }

  private async onBlocks(s: PeerState, m: ChainBlocks): Promise<void> {
    if (s.inflight > 0) {
      s.inflight--;
      if (s.inflight === 0) clearTimeout(s.timer);
    } else if (s.late > 0) {
      // The answer to a request we gave up on: our timeout, not the peer's fault.
      s.late--;
    } else {
      throw chainMisbehaviour(s.peer, 'blocks that were not asked for');
    }
    if (m.blocks.length > MAX_BLOCKS_PER_REPLY) throw chainMisbehaviour(s.peer, `${m.blocks.length} blocks in one reply (limit ${MAX_BLOCKS_PER_REPLY})`);
    const blocks = m.blocks.map((pb) => this.decodeBlock(s, () => blockFromProto(pb)));
    const results = await this.chain.importBlocks(blocks);
    let connected = 0;
    for (const [i, r] of results.entries()) {
      if (r.status === 'invalid') {
        if (r.local === true) break;
        throw chainMisbehaviour(s.peer, `invalid block ${blocks[i]!.hashHex.slice(0, 16)} at height ${blocks[i]!.header.height}: ${r.reason ?? 'rejected'}`);
      }
      if (r.status === 'connected' || r.status === 'side') connected++;
    }
    this.blocksImported += connected;
    const last = blocks.at(-1);
    if (last !== undefined && last.header.height > s.height) s.height = last.header.height;
    if (this.syncPeer !== s) return;
    const status = this.syncStatus();
    this.options.logger.info(
      { peer: s.peer.id, height: status.height, target: status.targetHeight, percent: status.percent, blocks: blocks.length },
      `chain sync: height ${status.height}/${status.targetHeight} (${status.percent.toFixed(1)}%)`,
    );
    if (blocks.length > 0 && this.ahead(s) && !s.peer.closed) {
      // Spread the download over every peer whose head beats ours, one batch each in turn.
      const next = this.nextSyncPeer(s);
      this.setSyncPeer(next);
      this.requestBlocks(next);
      return;
    }
    // Nothing more to get from this peer: it claimed a better head than it served, or we caught up.
    if (this.ahead(s)) s.work = 0n;
    this.setSyncPeer(undefined);
    this.maybeSync();
  }

  /** The peer after `current` (in connection order) whose head beats ours, else `current`. */
  private nextSyncPeer(current: PeerState): PeerState {
    const ahead = [...this.peers.values()].filter((p) => this.ahead(p) && !p.peer.closed && p.inflight === 0);
    if (ahead.length === 0) return current;
    const i = ahead.indexOf(current);
    return ahead[(i + 1) % ahead.length]!;
  }

  private async onNewBlock(s: PeerState, block: Block): Promise<void> {
    if (block.header.height > s.height) s.height = block.header.height;
    const r = await this.chain.addBlock(block);
    switch (r.status) {
      case 'invalid':
        if (r.local === true) return;
        throw chainMisbehaviour(s.peer, `invalid block ${block.hashHex.slice(0, 16)} at height ${block.header.height}: ${r.reason ?? 'rejected'}`);
      case 'connected':
        this.announceBlock(block, s.peer.id);
        return;
      case 'orphan':
        // We lack its ancestors: ask the sender, unless a download is already under way from it.
        if (s.inflight === 0) this.requestBlocks(s);
        return;
      default:
        return;
    }
  }

  /** Tell every peer (but `except`) about a block that joined our chain. */
  announceBlock(block: Block, except?: string): void {
    const env = envelope({ case: 'chainNewBlock', value: create(ChainNewBlockSchema, { block: blockToProto(block) }) });
    for (const s of this.peers.values()) {
      if (s.peer.id === except || bytesEqual(s.headHash, block.hash)) continue;
      s.peer.send(env);
    }
  }

  // ---- transactions ----

  /**
   * Verify and pool a transaction; relay it when it is new. A peer that sends
   * a malformed or forged transaction is punished; one we already have, or
   * one already in the chain, is simply dropped.
   */
  async acceptTransaction(tx: Transaction, from?: Peer): Promise<AddTxResult> {
    const result = await this.pool.add(tx);
    if (result.accepted) {
      for (const s of this.peers.values()) if (s.peer.id !== from?.id) this.queueTx(s, tx);
    } else if (from !== undefined && (result.reason === 'invalid signature' || checkTransactionShape(tx, this.chain.params) !== undefined)) {
      throw chainMisbehaviour(from, `transaction ${tx.idHex.slice(0, 16)} rejected: ${result.reason}`);
    }
    return result;
  }

  private queueTx(s: PeerState, tx: Transaction): void {
    if (s.known.has(tx.idHex)) return;
    if (s.known.size >= KNOWN_TXS_PER_PEER) s.known.clear();
    s.known.add(tx.idHex);
    s.pendingTxs.push(tx);
    if (s.flushTimer !== undefined) return;
    s.flushTimer = setTimeout(() => {
      s.flushTimer = undefined;
      const txs = s.pendingTxs;
      s.pendingTxs = [];
      for (let i = 0; i < txs.length; i += MAX_TXS_PER_FRAME) {
        const value = create(ChainTransactionsSchema, { transactions: txs.slice(i, i + MAX_TXS_PER_FRAME).map(txToProto) });
        if (!s.peer.send(envelope({ case: 'chainTransactions', value }))) return;
      }
    }, TX_FLUSH_MS);
    s.flushTimer.unref();
  }

  // ---- helpers ----

  private decode<T>(s: PeerState, fn: () => T, what: string): T {
    try {
      return fn();
    } catch (err) {
      throw chainMisbehaviour(s.peer, `malformed ${what}: ${(err as Error).message}`);
    }
  }

  private decodeBlock(s: PeerState, fn: () => Block): Block {
    return this.decode(s, fn, 'block');
  }

  syncStatus(): SyncStatus {
    const height = this.chain.height;
    let target = height;
    for (const s of this.peers.values()) if (this.ahead(s) && s.height > target) target = s.height;
    return {
      syncing: this.syncPeer !== undefined,
      height,
      targetHeight: target,
      percent: target === 0 ? 100 : Math.min(100, (height / target) * 100),
      chainPeers: this.peers.size,
      syncPeer: this.syncPeer?.peer.id ?? '',
      blocksImported: this.blocksImported,
    };
  }
}
