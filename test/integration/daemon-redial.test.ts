import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet } from '../helpers/daemon.js';

/** A persistent peer that crashes and comes back is redialled. */

/** A hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 15_000;
const FAST_REDIAL = ['--reconnect-base', '100', '--reconnect-max', '1000'];

describe('pheromones-node redial', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('B killed and restarted: A redials it and messages flow again', { timeout: TEST_TIMEOUT_MS }, async () => {
    const b = await net.start({ name: 'B' });
    const a = await net.start({ name: 'A', peers: [b.address], args: FAST_REDIAL });
    await a.waitForPeers([b.nodeId], WAIT_MS);
    a.writeLine('before the crash');
    await b.waitForChat((c) => c.text === 'before the crash', WAIT_MS, 'first line at B');

    assert.equal((await b.kill()).signal, 'SIGKILL');
    await a.waitForLog((r) => r.msg === 'peer disconnected' && r.peer === b.nodeId, WAIT_MS, 'A notices B is gone');

    const b2 = await net.restart(b);
    assert.equal(b2.nodeId, b.nodeId);
    await a.waitForLogCount((r) => r.msg === 'peer connected' && r.peer === b.nodeId, 2, WAIT_MS, 'A reconnected to B');
    await b2.waitForPeers([a.nodeId], WAIT_MS);
    a.writeLine('after the restart');
    const line = await b2.waitForChat((c) => c.text === 'after the restart', WAIT_MS, 'line at restarted B');
    assert.equal(line.hops, 1);
    b2.writeLine('B is back');
    await a.waitForChat((c) => c.text === 'B is back', WAIT_MS, 'B\'s line at A');
  });
});
