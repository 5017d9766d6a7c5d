/** Shared by the chain integration tests: API clients for daemons, the CLI, and pre-built regtest chains. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Level } from 'level';
import { Chain } from '../../src/chain/chain.js';
import { REGTEST } from '../../src/chain/params.js';
import { ChainStore } from '../../src/chain/store.js';
import { signTransaction } from '../../src/chain/transaction.js';
import type { ChainTransaction } from '../../src/gen/pheromones/admin/v1/chain_pb.js';
export { CLI_BIN, cli, ok, spawnCli, type CliResult } from '../helpers/cli.js';
import type { NodeApiClients } from '../helpers/api.js';
export { apiOf, type NodeApiClients } from '../helpers/api.js';
import { buildBlock, testKey } from '../unit/chain-helpers.js';

/** The canonical chain's transactions, in chain order, read page by page through ListBlocks. */
/** The transactions of the node's chain from genesis to `toHeight` (default: its head at the call). */
export async function chainTransactions(api: NodeApiClients, toHeight?: bigint): Promise<ChainTransaction[]> {
  const out: ChainTransaction[] = [];
  const head = { height: toHeight ?? (await api.chain.getHead({})).head!.height };
  let from = 0n;
  for (let page = 0; page < 1000; page++) {
    const res = await api.chain.listBlocks({ fromHeight: from, toHeight: head.height, limit: 1000, includeTransactions: true });
    for (const b of res.blocks) out.push(...b.transactions);
    if (res.nextFromHeight === 0n) break;
    from = res.nextFromHeight;
  }
  return out;
}

export function payloadText(tx: ChainTransaction): string {
  return Buffer.from(tx.payload).toString('utf8');
}

/**
 * Write a regtest chain of `blocks` blocks (each with `txsPerBlock` signed
 * transactions, payloads padded to `payloadBytes` when given) into a data
 * dir's database, mined in-thread, for a daemon started on that dir afterwards.
 */
export async function buildRegtestChain(
  dataDir: string,
  blocks: number,
  txsPerBlock: number,
  payloadBytes = 0,
): Promise<{ headHash: string; height: number }> {
  const db = new Level<Uint8Array, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const chain = await Chain.open(new ChainStore(db), REGTEST);
    let parent = chain.head;
    const t0 = Date.now() - blocks * 10;
    let n = 0;
    for (let i = 0; i < blocks; i++) {
      const txs = Array.from({ length: txsPerBlock }, () =>
        signTransaction(testKey(n % 20), 'chat', new TextEncoder().encode(`prebuilt ${n++}`.padEnd(payloadBytes, '.')), { timestampMs: t0, nonce: BigInt(n) }),
      );
      const b = buildBlock(chain, parent, txs, { timestampMs: t0 + i * 5 });
      const r = await chain.addBlock(b);
      assert.equal(r.status, 'connected', `prebuilt block ${i}: ${r.reason ?? r.status}`);
      parent = chain.head;
    }
    return { headHash: chain.head.hashHex, height: chain.height };
  } finally {
    await db.close();
  }
}
