/**
 * A mining daemon killed with SIGKILL in the middle of its work, 20 times in
 * a row, restarts each time with a chain that loads and validates: every
 * canonical block stored, linked to its parent, with its merkle root and
 * proof of work intact.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Level } from 'level';
import { computeMerkleRoot } from '../../src/chain/block.js';
import { bytesEqual } from '../../src/chain/bytes.js';
import { Chain } from '../../src/chain/chain.js';
import { meetsTarget } from '../../src/chain/header.js';
import { REGTEST } from '../../src/chain/params.js';
import { ChainStore } from '../../src/chain/store.js';
import { DaemonSet } from '../helpers/daemon.js';

const TEST_TIMEOUT_MS = 170_000;
const ROUNDS = 20;
const WAIT_MS = 20_000;
const ARGS = ['--network', 'regtest', '--no-stdin', '--mine', '--mine-empty'];

/** Open the data dir's chain in-process and check every canonical block; returns the height. */
async function validateStoredChain(dataDir: string): Promise<number> {
  const db = new Level<Uint8Array, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const chain = await Chain.open(new ChainStore(db), REGTEST);
    for (let h = 1; h <= chain.height; h++) {
      const entry = chain.entryAt(h)!;
      const block = await chain.getBlockAt(h);
      assert.ok(block !== undefined, `block ${h} stored`);
      assert.ok(bytesEqual(block.hash, entry.hash), `block ${h} is the indexed one`);
      assert.ok(bytesEqual(block.header.prevHash, chain.entryAt(h - 1)!.hash), `block ${h} links to its parent`);
      assert.ok(bytesEqual(computeMerkleRoot(block.txs), block.header.merkleRoot), `block ${h} merkle root`);
      assert.ok(meetsTarget(block.hash, block.header.target), `block ${h} proof of work`);
    }
    assert.ok(bytesEqual((await chain.store.head())!, chain.head.hash), 'head record matches the loaded head');
    return chain.height;
  } finally {
    await db.close();
  }
}

describe('chain crash safety', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it(`a mining node killed with SIGKILL ${ROUNDS} times in a row restarts with a valid chain each time`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const dataDir = await net.tempDir();
    let height = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const d = await net.start({ name: `miner-${round}`, dataDir, args: ARGS });
      const loaded = await d.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('chain loaded'), WAIT_MS, '"chain loaded"');
      assert.ok((loaded.height as number) >= height, `round ${round}: loaded height ${String(loaded.height)} >= ${height}`);
      // Let it commit a few blocks, then kill it at a random moment of its work.
      await d.waitForLogCount((r) => r.msg.startsWith('mined block'), 3, WAIT_MS, 'three mined blocks');
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 60)));
      const exit = await d.kill();
      assert.equal(exit.signal, 'SIGKILL');
      height = await validateStoredChain(dataDir);
    }
    t.diagnostic(`final height ${height} after ${ROUNDS} kills`);
    assert.ok(height >= ROUNDS * 3);
  });
});
