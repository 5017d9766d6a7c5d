import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { makeBlock, type Block } from '../../src/chain/block.js';
import { Chain, type ChainEntry, type ChainOptions } from '../../src/chain/chain.js';
import { HEADER_VERSION, type BlockHeader } from '../../src/chain/header.js';
import { merkleRoot } from '../../src/chain/merkle.js';
import { testParams, type ChainParams } from '../../src/chain/params.js';
import { solveHeader } from '../../src/chain/pow.js';
import { publicKeyOf } from '../../src/chain/signature.js';
import { ChainStore } from '../../src/chain/store.js';
import { signTransaction, type Transaction } from '../../src/chain/transaction.js';
import { sha256 } from '../../src/chain/bytes.js';

/** Deterministic keys for tests: sha256("pheromones test key <n>"). */
export function testKey(n: number): Uint8Array {
  return sha256(new TextEncoder().encode(`pheromones test key ${n}`));
}

export const MINER = publicKeyOf(testKey(100));

export interface TestChain {
  chain: Chain;
  db: Level<Uint8Array, Uint8Array>;
  dir: string;
  params: ChainParams;
  reopen(options?: ChainOptions): Promise<Chain>;
  close(): Promise<void>;
}

export async function openTestChain(params: ChainParams = testParams(), options: ChainOptions = {}): Promise<TestChain> {
  const dir = await mkdtemp(join(tmpdir(), 'pheromones-chain-'));
  let db = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const tc: TestChain = {
    chain: await Chain.open(new ChainStore(db), params, options),
    db,
    dir,
    params,
    async reopen(opts = options) {
      await db.close();
      db = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
      await db.open();
      tc.db = db;
      tc.chain = await Chain.open(new ChainStore(db), params, opts);
      return tc.chain;
    },
    async close() {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return tc;
}

let txCounter = 0;
/** A signed transaction with a unique nonce, dated at the genesis-era clock the helpers use. */
export function tx(keyIndex = 1, payload = `message ${txCounter}`): Transaction {
  return signTransaction(testKey(keyIndex), 'test/topic', new TextEncoder().encode(payload), {
    timestampMs: Date.UTC(2025, 0, 1),
    nonce: BigInt(txCounter++),
  });
}

export interface BuildOptions {
  /** Default: parent timestamp + spacing. */
  timestampMs?: number;
  header?: Partial<BlockHeader>;
  /** Skip the nonce search (to make a block with bad proof of work). */
  unsolved?: boolean;
  miner?: Uint8Array;
}

/** A valid block on `parent` (any entry, not only the head), mined in-thread. */
export function buildBlock(chain: Chain, parent: ChainEntry, txs: readonly Transaction[], o: BuildOptions = {}): Block {
  let header: BlockHeader = {
    version: HEADER_VERSION,
    height: parent.height + 1,
    prevHash: parent.hash,
    timestampMs: o.timestampMs ?? parent.header.timestampMs + chain.params.targetSpacingMs,
    merkleRoot: merkleRoot(txs.map((t) => t.id)),
    target: chain.nextTarget(parent),
    nonce: 0n,
    miner: o.miner ?? MINER,
    ...o.header,
  };
  if (o.unsolved !== true) header = solveHeader(header);
  return makeBlock(header, txs);
}

/** Extend from `parent` with `count` blocks (each holding the txs returned by `txsFor`), adding each to the chain. */
export async function extend(
  chain: Chain,
  parent: ChainEntry,
  count: number,
  txsFor: (i: number) => Transaction[] = () => [],
  o: BuildOptions = {},
): Promise<Block[]> {
  const blocks: Block[] = [];
  let p = parent;
  for (let i = 0; i < count; i++) {
    const b = buildBlock(chain, p, txsFor(i), o);
    const r = await chain.addBlock(b);
    if (r.status !== 'connected' && r.status !== 'side') throw new Error(`block ${i} not added: ${r.status} ${r.reason ?? ''}`);
    blocks.push(b);
    p = chain.getEntry(b.hash)!;
  }
  return blocks;
}
