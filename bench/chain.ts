import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { makeBlock, type Block } from '../src/chain/block.js';
import { sha256 } from '../src/chain/bytes.js';
import { Chain } from '../src/chain/chain.js';
import { HEADER_VERSION } from '../src/chain/header.js';
import { merkleRoot } from '../src/chain/merkle.js';
import { Miner } from '../src/chain/miner.js';
import { DEVNET, genesisBlock, REGTEST, testParams, targetForBits, type ChainParams } from '../src/chain/params.js';
import { pino } from 'pino';
import { availableParallelism } from 'node:os';
import { Node } from '../src/node/node.js';
import { TxPool } from '../src/chain/pool.js';
import { solveHeader } from '../src/chain/pow.js';
import { publicKeyOf } from '../src/chain/signature.js';
import { ChainStore } from '../src/chain/store.js';
import { signTransaction, type Transaction } from '../src/chain/transaction.js';
import { InlineVerifier, VerifierPool, type SignatureVerifier } from '../src/chain/verifier.js';

/**
 * Chain workloads: signature verification rate (inline and worker pool),
 * block import (validation + LevelDB) for 2,000 blocks of 10 transactions,
 * with and without signature checks, the miner's hash rate, and a real
 * sync of those 2,000 blocks between two in-process nodes over the chain
 * protocol (locator requests, 500-block replies, batched verification).
 */

const BLOCKS = 2_000;
const TXS_PER_BLOCK = 10;
const AUTHORS = 50;

function keys(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => sha256(new TextEncoder().encode(`bench key ${i}`)));
}

function makeTxs(count: number, start: number): Transaction[] {
  const ks = keys(AUTHORS);
  return Array.from({ length: count }, (_, i) =>
    signTransaction(ks[(start + i) % AUTHORS]!, 'bench/topic', new TextEncoder().encode(`payload ${start + i} `.padEnd(100, '.')), {
      timestampMs: Date.UTC(2025, 0, 1),
      nonce: BigInt(start + i),
    }),
  );
}

/** A chain of blocks built directly (no store), spaced exactly on schedule so the target never changes. */
function buildBlocks(params: ChainParams, txs: Transaction[]): Block[] {
  const miner = publicKeyOf(keys(1)[0]!);
  const blocks: Block[] = [];
  let prev = genesisBlock(params);
  for (let h = 1; h <= BLOCKS; h++) {
    const body = txs.slice((h - 1) * TXS_PER_BLOCK, h * TXS_PER_BLOCK);
    const header = solveHeader({
      version: HEADER_VERSION,
      height: h,
      prevHash: prev.hash,
      timestampMs: params.genesisTimestampMs + h * params.targetSpacingMs,
      merkleRoot: merkleRoot(body.map((t) => t.id)),
      target: params.genesisTarget,
      nonce: 0n,
      miner,
    });
    prev = makeBlock(header, body);
    blocks.push(prev);
  }
  return blocks;
}

async function withChain<T>(params: ChainParams, verifier: SignatureVerifier, fn: (chain: Chain) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pheromones-bench-chain-'));
  const db = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    return await fn(await Chain.open(new ChainStore(db), params, { verifier }));
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function importRun(
  name: string,
  params: ChainParams,
  blocks: Block[],
  verifier: SignatureVerifier,
  mode: 'one-by-one' | 'batched' | 'no-signatures',
): Promise<Record<string, unknown>> {
  return withChain(params, verifier, async (chain) => {
    const t0 = performance.now();
    if (mode === 'batched') {
      for (let i = 0; i < blocks.length; i += 100) {
        for (const r of await chain.importBlocks(blocks.slice(i, i + 100))) if (r.status !== 'connected') throw new Error(`${r.status} ${r.reason}`);
      }
    } else {
      for (const b of blocks) {
        const r = await chain.addBlock(b, { signaturesChecked: mode === 'no-signatures' });
        if (r.status !== 'connected') throw new Error(`${r.status} ${r.reason}`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      name,
      blocks: blocks.length,
      txsPerBlock: TXS_PER_BLOCK,
      seconds: +seconds.toFixed(2),
      blocksPerSec: Math.round(blocks.length / seconds),
      txsPerSec: Math.round((blocks.length * TXS_PER_BLOCK) / seconds),
    };
  });
}

export async function run(): Promise<Record<string, unknown>[]> {
  const results: Record<string, unknown>[] = [];
  const params = testParams({ genesisTarget: targetForBits(4) });

  let t0 = performance.now();
  const txs = makeTxs(BLOCKS * TXS_PER_BLOCK, 0);
  results.push({ name: 'sign', count: txs.length, perSec: Math.round(txs.length / ((performance.now() - t0) / 1000)) });
  const blocks = buildBlocks(params, txs);

  // Signature verification alone, fresh verifiers (empty caches).
  const sample = txs.slice(0, 4_000);
  const inline = new InlineVerifier();
  t0 = performance.now();
  if ((await inline.verify(sample)) !== -1) throw new Error('bad signature');
  results.push({ name: 'verify-inline', count: sample.length, perSec: Math.round(sample.length / ((performance.now() - t0) / 1000)) });
  const pool = new VerifierPool();
  try {
    await pool.verify(makeTxs(16, 10_000_000)); // start the workers
    t0 = performance.now();
    if ((await pool.verify(sample)) !== -1) throw new Error('bad signature');
    results.push({ name: 'verify-workers', threads: pool.threads, count: sample.length, perSec: Math.round(sample.length / ((performance.now() - t0) / 1000)) });
  } finally {
    await pool.close();
  }

  results.push(await importRun('import-no-signatures', params, blocks, new InlineVerifier(), 'no-signatures'));
  results.push(await importRun('import-inline', params, blocks, new InlineVerifier(), 'one-by-one'));
  const pool2 = new VerifierPool();
  try {
    results.push({ ...(await importRun('import-workers-per-block', params, blocks, pool2, 'one-by-one')), threads: pool2.threads });
  } finally {
    await pool2.close();
  }
  const pool3 = new VerifierPool();
  try {
    results.push({ ...(await importRun('import-workers-batched', params, blocks, pool3, 'batched')), threads: pool3.threads });
  } finally {
    await pool3.close();
  }

  results.push(await syncRun(buildBlocks(REGTEST, txs)));

  // Miner hash rate in its worker, and what it means for devnet's genesis target.
  await withChain(testParams({ genesisTarget: targetForBits(200) }), new InlineVerifier(), async (chain) => {
    const txPool = new TxPool(chain);
    const miner = new Miner(chain, txPool, { minerKey: publicKeyOf(keys(1)[0]!), mineEmpty: true });
    try {
      const search = miner.search(chain.blockTemplate(publicKeyOf(keys(1)[0]!), []).header, 1e12);
      setTimeout(() => miner.abort(), 3000);
      const out = await search;
      const rate = out.hashes / (out.elapsedMs / 1000);
      const devnetHashes = Number((1n << 256n) / (BigInt('0x' + Buffer.from(DEVNET.genesisTarget).toString('hex')) + 1n));
      results.push({ name: 'mine-hashrate', hashesPerSec: Math.round(rate), devnetExpectedBlockSeconds: +(devnetHashes / rate).toFixed(2) });
    } finally {
      await miner.stop();
      txPool.detach();
    }
  });
  return results;
}

/**
 * Node A holds `blocks` (written to its store before it starts); a fresh
 * node B dials it and syncs. Measures from B's start to B's head = A's head.
 */
async function syncRun(blocks: Block[]): Promise<Record<string, unknown>> {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'pheromones-bench-sync-'))));
  const db = new Level<Uint8Array, Uint8Array>(join(dirs[0]!, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const seed = await Chain.open(new ChainStore(db), REGTEST);
  for (const b of blocks) {
    const r = await seed.addBlock(b, { signaturesChecked: true });
    if (r.status !== 'connected') throw new Error(`seed block: ${r.status} ${r.reason}`);
  }
  const headHash = seed.head.hashHex;
  await db.close();
  const config = (dataDir: string, peers: string[]) => ({
    dataDir,
    network: 'regtest',
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers,
    maxInbound: 8,
    maxOutbound: 8,
    grpcAddress: '',
    logger: pino({ level: 'silent' }),
    chain: { verifierThreads: availableParallelism() },
  });
  const a = new Node(config(dirs[0]!, []));
  let b: Node | undefined;
  try {
    await a.start();
    const t0 = performance.now();
    b = new Node(config(dirs[1]!, [a.listenAddress]));
    await b.start();
    const chainB = b.chainNode().chain;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('sync did not finish in 300 s')), 300_000);
      const check = (): void => {
        if (chainB.head.hashHex !== headHash) return;
        clearTimeout(timer);
        chainB.off('tip', check);
        resolve();
      };
      chainB.on('tip', check);
      check();
    });
    const seconds = (performance.now() - t0) / 1000;
    return {
      name: 'sync-2000-blocks',
      blocks: blocks.length,
      txsPerBlock: TXS_PER_BLOCK,
      verifierThreads: availableParallelism(),
      seconds: +seconds.toFixed(2),
      blocksPerSec: Math.round(blocks.length / seconds),
      txsPerSec: Math.round((blocks.length * TXS_PER_BLOCK) / seconds),
    };
  } finally {
    await b?.stop();
    await a.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}
