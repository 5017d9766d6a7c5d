import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../src/chain/bytes.js';
import type { TipChange } from '../../src/chain/chain.js';
import { TxPool } from '../../src/chain/pool.js';
import { buildBlock, extend, openTestChain, tx } from './chain-helpers.js';

test('a heavier branch takes over; abandoned transactions go back to the pool, none lost', async () => {
  const tc = await openTestChain();
  try {
    const { chain } = tc;
    const pool = new TxPool(chain);
    const base = await extend(chain, chain.head, 2, () => [tx()]);
    const fork = chain.getEntry(base[1]!.hash)!;

    // Branch A: 2 blocks carrying pooled transactions a1..a3.
    const a = [tx(1), tx(2), tx(3)];
    for (const t of a) assert.deepEqual(await pool.add(t), { accepted: true });
    const shared = tx(4); // in both branches
    assert.deepEqual(await pool.add(shared), { accepted: true });
    const branchA = await extend(chain, fork, 2, (i) => (i === 0 ? [a[0]!, a[1]!, shared] : [a[2]!]));
    assert.equal(chain.height, 4);
    assert.equal(pool.size, 0, 'connected transactions leave the pool');

    // Branch B from the same fork: 3 blocks, with `shared` and one new transaction.
    const bOnly = tx(5);
    const reorgs: TipChange[] = [];
    chain.on('reorg', (c) => reorgs.push(c));
    const branchB = await extend(chain, fork, 3, (i) => (i === 1 ? [shared, bOnly] : []), { miner: new Uint8Array(33).fill(2) });
    assert.equal(chain.height, 5);
    assert.equal(chain.head.hashHex, branchB[2]!.hashHex);
    // Equal work after B's second block: the lower hash decides whether the switch happens then or at the third.
    assert.equal(reorgs.length, 1);
    assert.deepEqual(reorgs[0]!.removed.map((b) => b.hashHex), branchA.map((b) => b.hashHex));
    const added = reorgs[0]!.added.map((b) => b.hashHex);
    assert.deepEqual(added, branchB.slice(0, added.length).map((b) => b.hashHex));
    assert.ok(added.length >= 2);

    // a1..a3 are back in the pool, first in line; `shared` is in the new chain so it is not.
    assert.deepEqual(new Set(pool.all().map((t) => t.idHex)), new Set(a.map((t) => t.idHex)));
    assert.deepEqual(pool.take(10).map((t) => t.idHex), a.map((t) => t.idHex));
    const where = await chain.findTransactions([shared.id, a[0]!.id, bOnly.id]);
    assert.equal(where[0]?.hashHex, branchB[1]!.hashHex);
    assert.equal(where[1], undefined);
    assert.equal(where[2]?.height, 4);
    const again = await pool.add(shared);
    assert.equal(again.accepted, false);
    if (!again.accepted) assert.match(again.reason, /already in the chain/);

    // Switching back (A grows heavier) returns bOnly to the pool and removes a1..a3.
    await extend(chain, chain.getEntry(branchA[1]!.hash)!, 2);
    assert.equal(chain.height, 6);
    assert.deepEqual(pool.all().map((t) => t.idHex), [bOnly.idHex]);
    const now = await chain.findTransactions([shared.id, a[2]!.id, bOnly.id]);
    assert.equal(now[0]?.hashHex, branchA[0]!.hashHex);
    assert.equal(now[1]?.hashHex, branchA[1]!.hashHex);
    assert.equal(now[2], undefined);

    // And the store agrees after a restart.
    const reopened = await tc.reopen();
    assert.equal(reopened.head.hashHex, chain.head.hashHex);
    assert.equal(reopened.entryAt(3)!.hashHex, branchA[0]!.hashHex);
    assert.equal((await reopened.findTransactions([bOnly.id]))[0], undefined);
    assert.equal((await reopened.findTransactions([a[2]!.id]))[0]?.height, 4);
  } finally {
    await tc.close();
  }
});

test('a branch repeating a transaction from below the fork is rejected and the head stays', async () => {
  const tc = await openTestChain();
  try {
    const { chain } = tc;
    const old = tx();
    await extend(chain, chain.head, 1, () => [old]);
    const fork = chain.head;
    const main = await extend(chain, fork, 1);
    // Side branch: first block fine (stored as side), second repeats `old`.
    const side1 = buildBlock(chain, fork, [tx()], { miner: new Uint8Array(33).fill(7) });
    assert.equal((await chain.addBlock(side1)).status, 'side');
    const side2 = buildBlock(chain, chain.getEntry(side1.hash)!, [old]);
    const r = await chain.addBlock(side2);
    assert.equal(r.status, 'invalid');
    assert.match(r.reason!, /already in the chain/);
    assert.equal(chain.head.hashHex, main[0]!.hashHex);
    assert.equal((await chain.addBlock(side2)).status, 'invalid');
  } finally {
    await tc.close();
  }
});

test('orphans wait for their parent, report what is missing, and connect when it arrives', async () => {
  const tc = await openTestChain();
  const donor = await openTestChain();
  try {
    const blocks = await extend(donor.chain, donor.chain.head, 4, () => [tx()]);
    const { chain } = tc;
    let r = await chain.addBlock(blocks[3]!);
    assert.equal(r.status, 'orphan');
    assert.equal(toHex(r.missing!), blocks[2]!.hashHex);
    r = await chain.addBlock(blocks[2]!);
    assert.equal(toHex(r.missing!), blocks[1]!.hashHex, 'missing follows orphans down to the first absent block');
    await chain.addBlock(blocks[1]!);
    assert.deepEqual(chain.missingParents().map(toHex), [blocks[0]!.hashHex]);
    assert.equal(chain.orphanCount, 3);
    r = await chain.addBlock(blocks[0]!);
    assert.equal(r.status, 'connected');
    assert.equal(r.orphansAdopted, 3);
    assert.equal(chain.height, 4);
    assert.equal(chain.orphanCount, 0);
    assert.deepEqual(chain.missingParents(), []);
  } finally {
    await tc.close();
    await donor.close();
  }
});

test('the orphan pool is bounded', async () => {
  const tc = await openTestChain(undefined, { maxOrphans: 3 });
  const donor = await openTestChain();
  try {
    const blocks = await extend(donor.chain, donor.chain.head, 8);
    for (const b of blocks.slice(1)) await tc.chain.addBlock(b);
    assert.equal(tc.chain.orphanCount, 3);
  } finally {
    await tc.close();
    await donor.close();
  }
});

test('locator and blocksAfterLocator find the fork point', async () => {
  const tc = await openTestChain();
  const other = await openTestChain();
  try {
    const blocks = await extend(tc.chain, tc.chain.head, 40);
    const loc = tc.chain.locator();
    assert.equal(toHex(loc[0]!), tc.chain.head.hashHex);
    assert.equal(toHex(loc[loc.length - 1]!), tc.chain.genesis.hashHex);
    assert.ok(loc.length < 20, `locator of ${loc.length} hashes for 41 blocks`);
    // The other node has the first 25 blocks plus its own 3.
    for (const b of blocks.slice(0, 25)) assert.equal((await other.chain.addBlock(b)).status, 'connected');
    await extend(other.chain, other.chain.head, 3, () => [], { miner: new Uint8Array(33).fill(9) });
    const fork = tc.chain.forkPointOf(other.chain.locator());
    assert.ok(fork.height <= 25 && fork.height >= 20, `fork point ${fork.height}`);
    const sent = await tc.chain.blocksAfterLocator(other.chain.locator(), 100);
    assert.equal(sent[0]!.header.height, fork.height + 1);
    assert.equal(sent[sent.length - 1]!.hashHex, tc.chain.head.hashHex);
    assert.equal((await tc.chain.blocksAfterLocator([tc.chain.head.hash], 10)).length, 0);
    assert.equal((await tc.chain.blocksAfterLocator([], 5)).length, 5);
    // A reply cut short by the caller stops before the first block it refuses, across read slices.
    const upTo33 = await tc.chain.blocksAfterLocator([], 100, (b) => b.header.height <= 33);
    assert.deepEqual(upTo33.map((b) => b.header.height), Array.from({ length: 33 }, (_, i) => i + 1));
    for (const b of sent) await other.chain.addBlock(b);
    assert.equal(other.chain.head.hashHex, tc.chain.head.hashHex);
  } finally {
    await tc.close();
    await other.close();
  }
});
