import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { meetsTarget } from '../../src/chain/header.js';
import { Miner } from '../../src/chain/miner.js';
import { testParams, targetForBits } from '../../src/chain/params.js';
import { TxPool } from '../../src/chain/pool.js';
import { makeTransaction, signTransaction } from '../../src/chain/transaction.js';
import { MINER, extend, openTestChain, testKey, tx } from './chain-helpers.js';

test('the pool verifies, de-duplicates, bounds itself and evicts the oldest', async () => {
  const tc = await openTestChain();
  try {
    const pool = new TxPool(tc.chain, { maxTxs: 3 });
    const txs = [tx(), tx(), tx(), tx()];
    assert.deepEqual(await pool.add(txs[0]!), { accepted: true });
    assert.deepEqual(await pool.add(txs[0]!), { accepted: false, reason: 'already in the pool' });
    const forged = makeTransaction({ ...txs[1]!, payload: new TextEncoder().encode('changed') });
    assert.deepEqual(await pool.add(forged), { accepted: false, reason: 'invalid signature' });
    const future = signTransaction(testKey(1), 't', new Uint8Array(), { timestampMs: Date.now() + 3 * 3600_000 });
    assert.deepEqual(await pool.add(future), { accepted: false, reason: 'timestamp is too far in the future' });
    for (const t of txs.slice(1)) assert.deepEqual(await pool.add(t), { accepted: true });
    assert.equal(pool.size, 3);
    assert.equal(pool.has(txs[0]!.idHex), false, 'oldest evicted');
    assert.deepEqual(pool.take(2).map((t) => t.idHex), [txs[1]!.idHex, txs[2]!.idHex]);
    // Connecting a block removes what it includes.
    await extend(tc.chain, tc.chain.head, 1, () => [txs[1]!, txs[2]!]);
    assert.deepEqual(pool.all().map((t) => t.idHex), [txs[3]!.idHex]);
    const again = await pool.add(txs[1]!);
    assert.equal(again.accepted, false);
    if (!again.accepted) assert.match(again.reason, /already in the chain at height 1/);

    const bytesPool = new TxPool(tc.chain, { maxBytes: 600 });
    for (let i = 0; i < 5; i++) await bytesPool.add(tx(1, 'p'.repeat(100)));
    assert.ok(bytesPool.byteSize <= 600 && bytesPool.size === 2, `${bytesPool.size} txs, ${bytesPool.byteSize} bytes`);
    pool.detach();
    bytesPool.detach();
  } finally {
    await tc.close();
  }
});

test('the miner finds a valid block in a worker thread and the chain accepts it', async () => {
  const tc = await openTestChain(testParams({ genesisTarget: targetForBits(12) }));
  const pool = new TxPool(tc.chain);
  const miner = new Miner(tc.chain, pool, { minerKey: MINER });
  try {
    // No transactions and mineEmpty off: nothing to do.
    assert.equal(await miner.mineOnce(), undefined);
    assert.equal(miner.hashes, 0);
    const t = tx();
    await pool.add(t);
    const mined = await miner.mineOnce();
    assert.ok(mined !== undefined);
    assert.equal(mined.result.status, 'connected');
    assert.ok(meetsTarget(mined.block.hash, mined.block.header.target));
    assert.deepEqual(mined.block.txs.map((x) => x.idHex), [t.idHex]);
    assert.equal(tc.chain.height, 1);
    assert.equal(pool.size, 0);
    assert.ok(miner.hashes > 0);
  } finally {
    await miner.stop();
    pool.detach();
    await tc.close();
  }
});

test('a running search is aborted when the head changes, and stop() ends the loop', async () => {
  // A target no one will meet in this test: the search only ends by abort.
  const tc = await openTestChain(testParams({ genesisTarget: targetForBits(200) }));
  const pool = new TxPool(tc.chain);
  const miner = new Miner(tc.chain, pool, { minerKey: MINER, mineEmpty: true });
  try {
    const search = miner.search(tc.chain.blockTemplate(MINER, []).header, 1e12);
    miner.abort();
    const outcome = await search;
    assert.equal(outcome.aborted, true);
    assert.equal(outcome.header, undefined);

    // mineOnce gives up when the head changes (here signalled through the chain's own event, as no
    // block can be mined at this target).
    const pending = miner.mineOnce();
    setImmediate(() => tc.chain.emit('tip', { removed: [], added: [], head: tc.chain.head }));
    assert.equal(await pending, undefined);

    miner.start();
    assert.equal(miner.isRunning, true);
    await miner.stop();
    assert.equal(miner.isRunning, false);
  } finally {
    await miner.stop();
    pool.detach();
    await tc.close();
  }
});

test('a continuously running miner mines pooled transactions and emits each block', async () => {
  const tc = await openTestChain(testParams({ genesisTarget: targetForBits(10) }));
  const pool = new TxPool(tc.chain);
  const miner = new Miner(tc.chain, pool, { minerKey: MINER });
  try {
    miner.start();
    const t = tx();
    const minedEvent = once(miner, 'mined');
    await pool.add(t);
    const [block, result] = (await minedEvent) as [{ txs: { idHex: string }[] }, { status: string }];
    assert.equal(result.status, 'connected');
    assert.deepEqual(block.txs.map((x) => x.idHex), [t.idHex]);
  } finally {
    await miner.stop();
    pool.detach();
    await tc.close();
  }
});
