/**
 * A fresh daemon joins one holding 2,000 regtest blocks and reaches the same
 * head through locator sync, logging its progress on the way; a third one
 * downloads from both in turn.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet, pollUntil } from '../helpers/daemon.js';
import { apiOf, buildRegtestChain } from './chain-harness.js';

const TEST_TIMEOUT_MS = 170_000;
const BLOCKS = 2_000;
const REGTEST = ['--network', 'regtest', '--no-stdin'];

describe('chain sync', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it(`a fresh node joins a node holding ${BLOCKS} blocks and reaches the same head`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const dir = await net.tempDir();
    const built = await buildRegtestChain(dir, BLOCKS, 1);
    assert.equal(built.height, BLOCKS);
    const a = await net.start({ name: 'A', dataDir: dir, args: REGTEST });
    const apiA = await apiOf(a);
    after(() => apiA.channel.close());
    assert.equal((await apiA.chain.getHead({})).head!.hash, built.headHash, 'A loaded the prebuilt chain');

    const started = Date.now();
    const b = await net.start({ name: 'B', peers: [a.address], args: REGTEST });
    const apiB = await apiOf(b);
    after(() => apiB.channel.close());
    const head = await pollUntil(
      async () => {
        const h = (await apiB.chain.getHead({})).head!;
        return h.hash === built.headHash ? h : undefined;
      },
      120_000,
      `B at A's head (height ${BLOCKS})`,
      250,
    );
    t.diagnostic(`synced ${BLOCKS} blocks in ${Date.now() - started} ms (including start-up)`);
    assert.equal(head.height, BigInt(BLOCKS));
    const status = await apiB.chain.getSyncStatus({});
    assert.equal(status.height, BigInt(BLOCKS));
    assert.equal(status.blocksImported, BigInt(BLOCKS));
    assert.equal(status.percent, 100);
    // The daemon logged its progress as height/target.
    const progress = b.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('chain sync: height'));
    assert.ok(progress.length >= 2, 'progress logged per batch');
    assert.equal(progress.at(-1)!.height, BLOCKS);
    assert.equal(progress.at(-1)!.target, BLOCKS);
    // A third node with both as peers takes its batches from each of them in turn.
    // C also mines: it must hold off while it downloads, and mine after.
    const c = await net.start({ name: 'C', peers: [a.address, b.address], args: [...REGTEST, '--mine'] });
    const apiC = await apiOf(c);
    after(() => apiC.channel.close());
    await pollUntil(async () => (await apiC.chain.getHead({})).head!.hash === built.headHash, 120_000, `C at A's head`, 250);
    const servedBy = new Set(c.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('chain sync: height')).map((r) => r.peer));
    assert.deepEqual([...servedBy].sort(), [a.nodeId, b.nodeId].sort(), 'C downloaded from both peers');
    await c.waitForLog((r) => r.msg === 'mining resumed', 15_000, '"mining resumed" after the sync');
    assert.ok(c.logs.some((r) => r.msg === 'mining paused while syncing'), 'C paused mining during the download');
    assert.ok(!c.logs.some((r) => typeof r.msg === 'string' && r.msg.startsWith('mined block')), 'C mined nothing while it was behind');
    await apiC.messages.broadcast({ topic: 'chat', payload: new TextEncoder().encode('after the sync') });
    await c.waitForLog((r) => r.msg === `mined block ${BLOCKS + 1}`, 15_000, 'C mines on top of the synced chain');
    // Both hold the same transactions at the same heights.
    const [x, y] = await Promise.all([apiA.chain.getBlock({ selector: { case: 'height', value: 1234n } }), apiB.chain.getBlock({ selector: { case: 'height', value: 1234n } })]);
    assert.equal(y.block!.hash, x.block!.hash);
    assert.deepEqual(y.block!.transactions.map((tx) => tx.id), x.block!.transactions.map((tx) => tx.id));
  });
});
