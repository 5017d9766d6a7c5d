import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet } from '../helpers/daemon.js';

/** Chat through real daemon processes: stdin of one, stdout of the others. */

/** A hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 15_000;

describe('pheromones-node chat', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('two nodes: a line written to A is printed by B', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await net.start({ name: 'A' });
    const b = await net.start({ name: 'B', peers: [a.address] });
    await Promise.all([a.waitForPeers([b.nodeId], WAIT_MS), b.waitForPeers([a.nodeId], WAIT_MS)]);

    a.writeLine('hello from A');
    const line = await b.waitForChat((c) => c.text === 'hello from A', WAIT_MS, 'A\'s line at B');
    assert.equal(line.origin, a.nodeId.slice(0, 8));
    assert.equal(line.hops, 1);
    // The sender sees its own message too, as delivered locally.
    const own = await a.waitForChat((c) => c.text === 'hello from A', WAIT_MS, 'A\'s own line');
    assert.equal(own.hops, 0);
    // stdout holds nothing but chat lines: logs went to stderr.
    assert.deepEqual(
      b.stdoutLines.filter((l) => !/^\[\d\d:\d\d:\d\d\] [0-9a-f]{8} \(hops \d+\): /.test(l)),
      [],
    );

    await b.stopCleanly();
    await a.stopCleanly();
  });

  it('a line A - B - C: A\'s message is printed at C with hops 2, exactly once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await net.start({ name: 'A' });
    const b = await net.start({ name: 'B', peers: [a.address] });
    const c = await net.start({ name: 'C', peers: [b.address] });
    await Promise.all([
      a.waitForPeers([b.nodeId], WAIT_MS),
      b.waitForPeers([a.nodeId, c.nodeId], WAIT_MS),
      c.waitForPeers([b.nodeId], WAIT_MS),
    ]);
    assert.equal(a.connectedPeers().has(c.nodeId), false, 'A and C are not neighbours');

    a.writeLine('over two hops');
    const atC = await c.waitForChat((l) => l.text === 'over two hops', WAIT_MS, 'A\'s line at C');
    assert.equal(atC.origin, a.nodeId.slice(0, 8));
    assert.equal(atC.hops, 2);
    const atB = await b.waitForChat((l) => l.text === 'over two hops', WAIT_MS, 'A\'s line at B');
    assert.equal(atB.hops, 1);

    // A reply the other way, then stop everything and count: nothing arrives twice.
    c.writeLine('and back');
    await a.waitForChat((l) => l.text === 'and back', WAIT_MS, 'C\'s line at A');
    for (const d of [a, b, c]) await d.stopCleanly();
    for (const d of [a, b, c]) {
      assert.equal(d.chat().filter((l) => l.text === 'over two hops').length, 1, `${d.name} printed A's line once`);
      assert.equal(d.chat().filter((l) => l.text === 'and back').length, 1, `${d.name} printed C's line once`);
    }
    assert.equal(a.chat().find((l) => l.text === 'and back')?.hops, 2);
  });
});
