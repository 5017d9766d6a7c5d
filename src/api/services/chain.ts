import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Block } from '../../chain/block.js';
import type { ChainEntry, TipChange } from '../../chain/chain.js';
import { txFromProto } from '../../chain/codec.js';
import type { ChainNode } from '../../chain/service.js';
import type { Transaction } from '../../chain/transaction.js';
import { addressFromPublicKey } from '../../crypto/address.js';
import { PheromonesError } from '../../errors.js';
import type { ChainBlockSchema, ChainService, ChainTransactionSchema, SubscribeBlocksResponseSchema } from '../../gen/pheromones/admin/v1/chain_pb.js';
import { BoundedQueue } from '../bounded-queue.js';
import { toHex } from '../../crypto/hash.js';
import type { ImplOf } from '../grpc-adapter.js';
import { invalidArgument } from '../status.js';
import * as check from '../validate.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

type ChainBlockOut = MessageInitShape<typeof ChainBlockSchema>;
type SubscribeOut = MessageInitShape<typeof SubscribeBlocksResponseSchema>;

function authorAddress(key: Uint8Array): string {
  try {
    return addressFromPublicKey(key);
  } catch {
    return '';
  }
}

export function txToApi(tx: Transaction): MessageInitShape<typeof ChainTransactionSchema> {
  return {
    id: tx.idHex,
    author: toHex(tx.author),
    authorAddress: authorAddress(tx.author),
    topic: tx.topic,
    payload: tx.payload,
    timestampMs: BigInt(tx.timestampMs),
    nonce: tx.nonce,
    signature: toHex(tx.signature),
  };
}

function blockToApi(node: ChainNode, entry: ChainEntry, block: Block | undefined): ChainBlockOut {
  const h = entry.header;
  return {
    hash: entry.hashHex,
    height: BigInt(entry.height),
    prevHash: toHex(h.prevHash),
    timestampMs: BigInt(h.timestampMs),
    merkleRoot: toHex(h.merkleRoot),
    target: toHex(h.target),
    nonce: h.nonce,
    miner: toHex(h.miner),
    cumulativeWork: entry.work.toString(),
    canonical: node.chain.isCanonical(entry.hash),
    transactionCount: block?.txs.length ?? 0,
    transactions: block?.txs.map(txToApi) ?? [],
  };
}

async function loadBlock(node: ChainNode, entry: ChainEntry, withTxs: boolean): Promise<ChainBlockOut> {
  const block = await node.chain.getBlock(entry.hash);
  const out = blockToApi(node, entry, block);
  if (!withTxs) out.transactions = [];
  return out;
}

/** ChainService over the running node's chain; `chain()` throws UNAVAILABLE while the node is not serving. */
export function chainService(chain: () => ChainNode, opts: { streamBuffer: number }): ImplOf<typeof ChainService> {
  return {
    async getHead() {
      const node = chain();
      return {
        head: await loadBlock(node, node.chain.head, false),
        network: node.chain.params.network,
        genesisHash: node.chain.genesis.hashHex,
      };
    },

    async getBlock(req) {
      const node = chain();
      let entry: ChainEntry | undefined;
      if (req.selector.case === 'hash') {
        entry = node.chain.getEntry(check.hexId('hash', req.selector.value));
        if (entry === undefined) throw new PheromonesError('not-found', `no block ${req.selector.value.toLowerCase()}`);
      } else if (req.selector.case === 'height') {
        const height = req.selector.value;
        entry = height > BigInt(node.chain.height) ? undefined : node.chain.entryAt(Number(height));
        if (entry === undefined) throw new PheromonesError('not-found', `no block at height ${height} (the head is at ${node.chain.height})`);
      } else {
        entry = node.chain.head;
      }
      return { block: await loadBlock(node, entry, true) };
    },

    async listBlocks(req) {
      const node = chain();
      if (req.limit > MAX_PAGE) throw invalidArgument('limit', `at most ${MAX_PAGE}`);
      const head = node.chain.height;
      const to = req.toHeight === 0n || req.toHeight > BigInt(head) ? head : Number(req.toHeight);
      if (req.toHeight !== 0n && req.fromHeight > req.toHeight) throw invalidArgument('from_height', 'greater than to_height');
      const limit = req.limit === 0 ? DEFAULT_PAGE : req.limit;
      const blocks: ChainBlockOut[] = [];
      let h = req.fromHeight > BigInt(head) ? head + 1 : Number(req.fromHeight);
      for (; h <= to && blocks.length < limit; h++) {
        const e = node.chain.entryAt(h);
        if (e === undefined) break;
        blocks.push(await loadBlock(node, e, req.includeTransactions));
      }
      return { blocks, nextFromHeight: h <= to ? BigInt(h) : 0n };
    },

    async getTransaction(req) {
      const node = chain();
      const idHex = check.hexId('id', req.id);
      const pooled = node.pool.get(idHex);
      if (pooled !== undefined) return { transaction: txToApi(pooled), inPool: true, confirmations: 0n };
      const [entry] = await node.chain.findTransactions([Buffer.from(idHex, 'hex')]);
      if (entry === undefined) throw new PheromonesError('not-found', `no transaction ${idHex} in the chain or the pool`);
      const block = await node.chain.getBlock(entry.hash);
      const tx = block?.txs.find((t) => t.idHex === idHex);
      if (block === undefined || tx === undefined) throw new PheromonesError('not-found', `no transaction ${idHex} in the chain or the pool`);
      const out = blockToApi(node, entry, block);
      out.transactions = [];
      return { transaction: txToApi(tx), block: out, inPool: false, confirmations: BigInt(node.chain.height - entry.height + 1) };
    },

    async submitTransaction(req) {
      const node = chain();
      if (req.transaction === undefined) throw invalidArgument('transaction', 'required');
      const tx = txFromProto(req.transaction);
      const { message } = await node.submit(tx);
      return { id: tx.idHex, messageId: toHex(message.id), messageSeq: message.seq };
    },

    async *subscribeBlocks(req, ctx): AsyncIterable<SubscribeOut> {
      const node = chain();
      const queue = new BoundedQueue<TipChange>(opts.streamBuffer, ctx.signal);
      const onTip = (change: TipChange): void => queue.push(change);
      node.chain.on('tip', onTip);
      try {
        for await (const change of queue) {
          if (change.removed.length > 0) {
            const forkHeight = change.added[0]!.header.height - 1;
            yield {
              event: {
                case: 'reorg',
                value: { removed: change.removed.map((b) => b.hashHex), added: change.added.map((b) => b.hashHex), forkHeight: BigInt(forkHeight) },
              },
            };
          }
          for (const b of change.added) {
            const entry = node.chain.getEntry(b.hash);
            if (entry === undefined) continue;
            const out = blockToApi(node, entry, b);
            if (!req.includeTransactions) out.transactions = [];
            yield { event: { case: 'block', value: out } };
          }
        }
      } finally {
        node.chain.off('tip', onTip);
      }
    },

    async getSyncStatus() {
      const s = chain().syncStatus();
      return {
        syncing: s.syncing,
        height: BigInt(s.height),
        targetHeight: BigInt(s.targetHeight),
        percent: s.percent,
        chainPeers: s.chainPeers,
        syncPeer: s.syncPeer,
        blocksImported: BigInt(s.blocksImported),
        poolSize: s.poolSize,
        mining: s.mining,
      };
    },

    async listPoolTransactions(req) {
      const node = chain();
      if (req.limit > MAX_PAGE) throw invalidArgument('limit', `at most ${MAX_PAGE}`);
      const txs = node.pool.take(req.limit === 0 ? DEFAULT_PAGE : req.limit);
      return { transactions: txs.map(txToApi), total: node.pool.size, totalBytes: BigInt(node.pool.byteSize) };
    },
  };
}
