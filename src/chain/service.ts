import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import { bytesEqual, toHex } from './bytes.js';
import { Chain, type TipChange } from './chain.js';
import { Miner } from './miner.js';
import type { ChainParams } from './params.js';
import { TxPool } from './pool.js';
import { ChainProtocol, type SyncStatus } from './protocol.js';
import { ChainStore, type LevelDatabase } from './store.js';
import { makeTransaction, txSigningBytes, type Transaction } from './transaction.js';
import { InlineVerifier, VerifierPool, type SignatureVerifier } from './verifier.js';

export interface ChainNodeOptions {
  db: LevelDatabase;
  params: ChainParams;
  logger: Logger;
  /** The node's own key: signs the transactions of messages broadcast without an author key. */
  signer: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array };
  /** Gossip a message on its topic (so message watchers see a transaction submitted from elsewhere). */
  announce: (topic: string, payload: Uint8Array) => Promise<{ id: Uint8Array; seq: bigint }>;
  maxFrameBytes: number;
  mine?: boolean;
  /** 33-byte public key written into mined blocks; the node's key by default. */
  minerKey?: Uint8Array;
  mineEmpty?: boolean;
  /** Signature worker threads; 0 verifies on the event loop (tests with many in-process nodes). */
  verifierThreads?: number;
}

export interface SubmitResult {
  tx: Transaction;
  message: { id: Uint8Array; seq: bigint };
}

/**
 * Everything the chain needs while a node runs: the chain over the node's
 * LevelDB, the transaction pool, the signature verifiers, the chain protocol
 * (sync and relay) and, with --mine, the miner. The node constructs, starts
 * and stops it; the API reads and submits through it.
 */
export class ChainNode {
  private miner: Miner | undefined;
  /** Pausing and resuming the miner happen in order. */
  private minerSwitch: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    readonly chain: Chain,
    readonly pool: TxPool,
    readonly protocol: ChainProtocol,
    private readonly verifier: SignatureVerifier & { close?(): Promise<void> },
    private readonly options: ChainNodeOptions,
  ) {}

  static async open(options: ChainNodeOptions): Promise<ChainNode> {
    const threads = options.verifierThreads ?? 0;
    const verifier = threads > 0 ? new VerifierPool({ threads }) : new InlineVerifier();
    let chain: Chain;
    try {
      chain = await Chain.open(new ChainStore(options.db), options.params, { verifier });
    } catch (err) {
      if (verifier instanceof VerifierPool) await verifier.close();
      throw err;
    }
    const pool = new TxPool(chain, { verifier });
    let node: ChainNode | undefined;
    const protocol = new ChainProtocol(chain, pool, {
      logger: options.logger,
      maxFrameBytes: options.maxFrameBytes,
      onSyncing: (syncing) => node?.syncingChanged(syncing),
    });
    const head = chain.head;
    options.logger.info({ network: options.params.network, height: head.height, head: head.hashHex }, `chain loaded at height ${head.height}`);
    node = new ChainNode(chain, pool, protocol, verifier, options);
    chain.on('tip', node.logTip);
    return node;
  }

  /**
   * No mining while blocks are downloaded: the worker would compete with the
   * signature workers for the cores, and its blocks would build on a head
   * that is about to be left behind.
   */
  private syncingChanged(syncing: boolean): void {
    const miner = this.miner;
    if (miner === undefined || this.stopped) return;
    if (syncing && miner.isRunning) {
      this.options.logger.info('mining paused while syncing');
      this.minerSwitch = this.minerSwitch.then(() => miner.stop()).catch((err: unknown) => this.options.logger.warn({ err }, 'pausing the miner failed'));
    } else if (!syncing) {
      this.minerSwitch = this.minerSwitch.then(() => {
        if (this.stopped || miner.isRunning || this.protocol.syncStatus().syncing) return;
        this.options.logger.info('mining resumed');
        miner.start();
      });
    }
  }

  /**
   * "new block #h" for each new head, except blocks this node mined (the
   * miner said "mined block h") and those a download passes through on its
   * way (it logs its own progress): its last block, the one that catches up, is shown.
   */
  private readonly logTip = (change: TipChange): void => {
    if (this.stopped) return;
    const sync = this.protocol.syncStatus();
    if (sync.syncing && change.head.height < sync.targetHeight) return;
    const head = change.head;
    const ownKey = this.options.minerKey ?? this.options.signer.publicKey;
    if (this.miner !== undefined && bytesEqual(head.header.miner, ownKey)) return;
    const block = change.added.at(-1);
    this.options.logger.info(
      { height: head.height, hash: head.hashHex, txs: block?.txs.length, miner: toHex(head.header.miner), reorged: change.removed.length || undefined },
      `new block #${head.height}`,
    );
  };

  /** Mining now (false while paused for a sync). */
  get mining(): boolean {
    return this.miner?.isRunning ?? false;
  }

  /** Start mining if asked to. The protocol is live once the node registers it. */
  start(): void {
    const o = this.options;
    if (o.mine !== true) return;
    const minerKey = o.minerKey ?? o.signer.publicKey;
    const miner = new Miner(this.chain, this.pool, { minerKey, mineEmpty: o.mineEmpty ?? false });
    miner.on('mined', (block, result) => {
      if (result.status === 'connected') {
        o.logger.info({ height: block.header.height, hash: block.hashHex, txs: block.txs.length }, `mined block ${block.header.height}`);
        this.protocol.announceBlock(block);
      }
    });
    miner.on('error', (err) => o.logger.warn({ err }, 'mining failed'));
    this.miner = miner;
    // A download that began before this point keeps the miner paused until it ends.
    if (!this.protocol.syncStatus().syncing) miner.start();
    o.logger.info({ minerKey: toHex(minerKey), mineEmpty: o.mineEmpty ?? false }, 'mining');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.chain.off('tip', this.logTip);
    this.protocol.stop();
    await this.minerSwitch;
    await this.miner?.stop().catch((err: unknown) => this.options.logger.warn({ err }, 'stopping the miner failed'));
    this.pool.detach();
    await this.verifier.close?.();
  }

  /**
   * The transaction of a message broadcast through this node without an
   * author key: signed with the node's key, pooled and relayed. Messages the
   * chain cannot hold (payload over its limit) stay gossip-only; the reason
   * is returned.
   */
  async submitOwn(topic: string, payload: Uint8Array): Promise<{ tx: Transaction; reason?: string }> {
    const fields = { author: this.options.signer.publicKey, topic, payload, timestampMs: Date.now(), nonce: randomBytes(8).readBigUInt64BE() };
    const signature = this.options.signer.sign(txSigningBytes(fields));
    const tx = makeTransaction({ ...fields, signature });
    const result = await this.protocol.acceptTransaction(tx);
    return result.accepted ? { tx } : { tx, reason: result.reason };
  }

  /**
   * A transaction signed elsewhere (another program, the CLI with --from):
   * verified, pooled, relayed, and its message gossiped on its topic so it
   * shows up wherever messages are watched. Rejections throw with the reason.
   */
  async submit(tx: Transaction): Promise<SubmitResult> {
    const result = await this.protocol.acceptTransaction(tx);
    if (!result.accepted) throw new PheromonesError('invalid-argument', `transaction ${tx.idHex} rejected: ${result.reason}`);
    const message = await this.options.announce(tx.topic, tx.payload);
    return { tx, message };
  }

  syncStatus(): SyncStatus & { poolSize: number; mining: boolean } {
    return { ...this.protocol.syncStatus(), poolSize: this.pool.size, mining: this.mining };
  }
}
