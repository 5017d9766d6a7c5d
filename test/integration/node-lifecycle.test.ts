import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PheromonesError } from '../../src/errors.js';
import { Node } from '../../src/node/node.js';
import { collect, NodeSet, nextPeerEvent, text, utf8, waitFor } from './node-harness.js';

describe('Node lifecycle', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('a restarted node keeps its log in order and continues the sequence', async () => {
    const dataDir = await set.dir();
    const a = await set.start({ dataDir });
    const id = a.nodeId;
    for (let i = 0; i < 5; i++) await a.broadcast('t', utf8(`m${i}`));
    await a.stop();
    await a.stop(); // idempotent
    assert.equal(a.ready, false);

    const again = await set.start({ dataDir });
    assert.equal(again.nodeId, id, 'same identity after restart');
    assert.equal((await again.info()).messageLogSize, 5);
    const next = await again.broadcast('t', utf8('m5'));
    assert.equal(next.seq, 6n);
    const all = await again.listMessages(0n, 100);
    assert.deepEqual(all.map((m) => m.seq), [1n, 2n, 3n, 4n, 5n, 6n]);
    assert.deepEqual(all.map((m) => text(m.payload)), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    assert.deepEqual((await again.listMessages(4n, 1)).map((m) => m.seq), [5n]);
  });

  it('a second node on a data dir in use fails at once with a clear message', async () => {
    const dataDir = await set.dir();
    await set.start({ dataDir });
    const second = new Node(set.config(dataDir));
    await assert.rejects(second.start(), (err: unknown) => {
      assert.ok(err instanceof PheromonesError);
      assert.equal(err.kind, 'failed-precondition');
      assert.equal(err.message, `data dir ${dataDir} is in use by another pheromones-node`);
      return true;
    });
    assert.equal(second.ready, false);
    await second.stop();
  });

  it('a failed start releases the data dir and the port', async () => {
    const dataDir = await set.dir();
    const first = await set.start({ dataDir });
    const port = first.listenPort;
    await first.stop();
    const bad = new Node(set.config(dataDir, { peers: ['not an address'], listenPort: port }));
    await assert.rejects(bad.start(), { kind: 'invalid-argument' });
    // A listen failure after the store is open must close it again.
    const blocker = await set.start();
    const clash = new Node(set.config(dataDir, { listenPort: blocker.listenPort }));
    await assert.rejects(clash.start(), { kind: 'already-exists' });
    const ok = await set.start({ dataDir, listenPort: port });
    assert.equal(ok.listenPort, port);
  });

  it('a persistent peer is redialled after it restarts, and messages flow again', async () => {
    const bDir = await set.dir();
    const b = await set.start({ dataDir: bDir });
    const bAddress = b.listenAddress;
    const a = await set.start({ peers: [bAddress] });
    await waitFor('a to connect to b', () => a.listPeers().some((p) => p.nodeId === b.nodeId && p.persistent));

    const gone = nextPeerEvent(a, (ev) => ev.type === 'disconnected' && ev.peer.nodeId === b.nodeId);
    await b.stop();
    assert.equal((await gone).type, 'disconnected');

    const port = Number(bAddress.slice(bAddress.lastIndexOf(':') + 1));
    const back = nextPeerEvent(a, (ev) => ev.type === 'connected' && ev.peer.nodeId === b.nodeId);
    const b2 = await set.start({ dataDir: bDir, listenPort: port });
    await back;
    const gotB = collect(b2);
    await a.broadcast('chat', utf8('after restart'));
    await waitFor('b to deliver after the redial', () => gotB.length === 1);
    assert.equal(text(gotB[0]!.payload), 'after restart');
    const peer = a.listPeers().find((p) => p.nodeId === b.nodeId);
    assert.equal(peer?.persistent, true);
  });

  it('removePeer forgets a persistent peer that is currently down', async () => {
    const b = await set.start();
    const bAddress = b.listenAddress;
    const bId = b.nodeId;
    const a = await set.start({ peers: [bAddress] });
    await waitFor('a to connect to b', () => a.listPeers().some((p) => p.nodeId === bId));
    await b.stop();
    await waitFor('a to lose b', () => a.listPeers().length === 0);
    const removed = await a.removePeer(bId);
    assert.equal(removed.persistent, true);
    assert.equal(removed.address, bAddress);
    await assert.rejects(a.removePeer(bAddress), { kind: 'not-found' });
  });

  it('stop() disconnects peers with "requested" and methods then fail as unavailable', async () => {
    const a = await set.start();
    const b = await set.start();
    await a.addPeer(b.listenAddress, { persistent: false, timeoutMs: 5_000 });
    await waitFor('b to see a', () => b.listPeers().length === 1);
    const ev = nextPeerEvent(b, (e) => e.type === 'disconnected');
    await a.stop();
    const got = await ev;
    assert.equal(got.type === 'disconnected' && got.reason, 'requested');
    await assert.rejects(a.broadcast('t', utf8('x')), { kind: 'unavailable' });
    await assert.rejects(a.info(), { kind: 'unavailable' });
  });
});
