import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Chain } from '../../src/chain/chain.js';
import { testParams } from '../../src/chain/params.js';
import { ChainBatch, ChainStore } from '../../src/chain/store.js';
import type { Block } from '../../src/chain/block.js';
import { PheromonesError } from '../../src/errors.js';
import { toHex } from '../../src/chain/bytes.js';
import { buildBlock, extend, openTestChain, tx } from './chain-helpers.js';

const params = testParams();

/** A store whose writes never land: the process "dies" just before the batch, and we keep the ops. */
class CrashingStore extends ChainStore {
  captured: ChainBatch['ops'] | undefined;
  override batch(): ChainBatch {
    const b = super.batch();
    b.write = async () => {
      this.captured = b.ops;
      throw new Error('simulated crash');
    };
    return b;
  }
}

async function openLevel(dir: string): Promise<Level<Uint8Array, Uint8Array>> {
  const db = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  return db;
}

/** Everything a loaded chain promises: head body present, canonical index and tx index agree with the ancestry. */
async function assertConsistent(chain: Chain, store: ChainStore): Promise<void> {
  assert.ok(await store.hasBlock(chain.head.hash), 'head block body is stored');
  for (let h = 0; h <= chain.height; h++) {
    const e = chain.entryAt(h)!;
    assert.equal(toHex((await store.getCanonical(h)) ?? new Uint8Array()), e.hashHex, `canonical entry at ${h}`);
    const body = (await chain.getBlock(e.hash))!;
    const where = await chain.findTransactions(body.txs.map((t) => t.id));
    for (const w of where) assert.equal(w?.hashHex, e.hashHex, `tx index at height ${h}`);
  }
  assert.equal(await store.getCanonical(chain.height + 1), undefined);
}

test('the chain reloads after a restart', async () => {
  const tc = await openTestChain();
  try {
    const blocks = await extend(tc.chain, tc.chain.head, 5, () => [tx(), tx(2)]);
    const side = buildBlock(tc.chain, tc.chain.entryAt(3)!, [tx()], { miner: new Uint8Array(33).fill(5) });
    assert.equal((await tc.chain.addBlock(side)).status, 'side');
    const chain = await tc.reopen();
    assert.equal(chain.height, 5);
    assert.equal(chain.head.hashHex, blocks[4]!.hashHex);
    assert.equal(chain.getEntry(side.hash)?.height, 4);
    assert.equal(chain.head.work, tc.chain.head.work);
    assert.equal((await chain.getBlockAt(2))!.hashHex, blocks[1]!.hashHex);
    assert.equal((await chain.findTransactions([blocks[2]!.txs[1]!.id]))[0]?.height, 3);
    await assertConsistent(chain, new ChainStore(tc.db));
    // Continues where it left off.
    await extend(chain, chain.head, 1);
    assert.equal(chain.height, 6);
  } finally {
    await tc.close();
  }
});

test('data of another network is refused', async () => {
  const tc = await openTestChain();
  try {
    await assert.rejects(tc.reopen().then(() => Chain.open(new ChainStore(tc.db), testParams({ genesisTimestampMs: 5 }))), (err: unknown) => {
      return err instanceof PheromonesError && err.kind === 'wrong-network';
    });
  } finally {
    await tc.close();
  }
});

test('head pointing at a block whose body never landed: walks back to a complete block', async () => {
  const tc = await openTestChain();
  try {
    const blocks = await extend(tc.chain, tc.chain.head, 4, () => [tx()]);
    // Lose block 4's body (and say nothing else): as if only part of its batch reached disk.
    await new ChainStore(tc.db).db.del(Uint8Array.of(0x62, ...blocks[3]!.hash));
    const chain = await tc.reopen();
    assert.equal(chain.height, 3);
    assert.equal(chain.head.hashHex, blocks[2]!.hashHex);
    const store = new ChainStore(tc.db);
    await assertConsistent(chain, store);
    assert.equal(toHex((await store.head())!), blocks[2]!.hashHex);
    // The lost block can be received again.
    assert.equal((await chain.addBlock(blocks[3]!)).status, 'connected');
    assert.equal(chain.height, 4);
  } finally {
    await tc.close();
  }
});

test('missing head pointer and canonical entries are rebuilt', async () => {
  const tc = await openTestChain();
  try {
    const blocks = await extend(tc.chain, tc.chain.head, 3, () => [tx()]);
    const s = new ChainStore(tc.db);
    await s.db.batch([
      { type: 'del', key: Uint8Array.of(0x48) },
      { type: 'del', key: Uint8Array.of(0x6e, 0, 0, 0, 0, 0, 0, 0, 2) },
      { type: 'del', key: Uint8Array.of(0x74, ...blocks[1]!.txs[0]!.id) },
    ]);
    const chain = await tc.reopen();
    assert.equal(chain.head.hashHex, blocks[2]!.hashHex);
    await assertConsistent(chain, new ChainStore(tc.db));
  } finally {
    await tc.close();
  }
});

/**
 * LevelDB applies a batch atomically; this checks the stronger property the
 * store's ordering gives: stopping after ANY prefix of a batch (an extension
 * or a reorg) still loads into a consistent chain, at the old or new head.
 */
test('crash after any prefix of a commit or reorg batch leaves a chain that loads', async () => {
  const base = await mkdtemp(join(tmpdir(), 'pheromones-crash-'));
  try {
    // Build the starting state: main chain A (height 4) and a side branch B from height 2.
    let db = await openLevel(base);
    const chain = await Chain.open(new ChainStore(db), params);
    const shared = tx();
    const a = await extend(chain, chain.head, 4, (i) => (i === 2 ? [shared, tx()] : [tx()]));
    const fork = chain.entryAt(2)!;
    const b = await extend(chain, fork, 2, (i) => (i === 1 ? [shared] : [tx()]), { miner: new Uint8Array(33).fill(4) });
    assert.equal(chain.head.hashHex, a[3]!.hashHex);
    const bTip = chain.getEntry(b[1]!.hash)!;
    const reorgBlock = buildBlock(chain, bTip, [tx(), a[3]!.txs[0]!]); // B gets heavier; carries one of A's txs
    const extendBlock = buildBlock(chain, chain.head, [tx()]);
    await db.close();

    for (const [name, incoming, newHead] of [
      ['reorg', reorgBlock, reorgBlock],
      ['extend', extendBlock, extendBlock],
    ] as [string, Block, Block][]) {
      // Capture the batch the chain would write.
      db = await openLevel(base);
      const crashing = new CrashingStore(db);
      const c = await Chain.open(crashing, params);
      await assert.rejects(c.addBlock(incoming), /simulated crash/);
      const ops = crashing.captured!;
      assert.ok(ops.length >= 5, `${name}: batch has ${ops.length} ops`);
      await db.close();

      for (let k = 0; k <= ops.length; k++) {
        const dir = await mkdtemp(join(tmpdir(), 'pheromones-crash-k-'));
        try {
          await cp(join(base, 'db'), join(dir, 'db'), { recursive: true });
          const kdb = await openLevel(dir);
          const store = new ChainStore(kdb);
          if (k > 0) await store.db.batch(ops.slice(0, k));
          const loaded = await Chain.open(store, params);
          const heads = [a[3]!.hashHex, newHead.hashHex];
          assert.ok(heads.includes(loaded.head.hashHex), `${name} prefix ${k}: head ${loaded.head.height}`);
          if (k === ops.length) assert.equal(loaded.head.hashHex, newHead.hashHex);
          await assertConsistent(loaded, store);
          // And it keeps working: the block (re)applies or is already there.
          const r = await loaded.addBlock(incoming);
          assert.ok(r.status === 'connected' || r.status === 'duplicate', `${name} prefix ${k}: ${r.status} ${r.reason ?? ''}`);
          assert.equal(loaded.head.hashHex, newHead.hashHex);
          await assertConsistent(loaded, store);
          await kdb.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
