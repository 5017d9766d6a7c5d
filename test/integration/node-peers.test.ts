import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { generateIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { DisconnectReason, EnvelopeSchema, GossipMessageSchema } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { Node } from '../../src/node/node.js';
import type { Protocol } from '../../src/peer/protocol.js';
import { dialSecure, PROTOCOL_VERSION } from '../../src/transport/index.js';
import type { CloseInfo, SecureConnection } from '../../src/transport/types.js';
import { collect, link, NodeSet, nextPeerEvent, StallingProxy, text, utf8, waitFor } from './node-harness.js';

/** A bare session to `node` that advertises only `protocols`. */
function rawDial(node: Node, protocols: { name: string; versions: number[] }[]): Promise<SecureConnection> {
  return dialSecure('127.0.0.1', node.listenPort, {
    identity: generateIdentity(),
    hello: { networkId: networkIdFor('testnet'), protocolVersion: PROTOCOL_VERSION, listenPort: 0, protocols, userAgent: 'test' },
    handshakeTimeoutMs: 3_000,
    maxFrameBytes: 4 * 1024 * 1024,
  });
}

function closed(conn: SecureConnection): Promise<CloseInfo> {
  return new Promise((resolve) => conn.once('close', resolve));
}

describe('Node peers', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('registers the peer at both ends with address, direction, protocols and an RTT', async () => {
    const a = await set.start();
    const b = await set.start();
    const info = await a.addPeer(b.listenAddress, { persistent: false, timeoutMs: 5_000 });
    assert.equal(info.nodeId, b.nodeId);
    assert.equal(info.direction, 'outbound');
    assert.equal(info.address, b.listenAddress);
    assert.equal(info.listenAddress, b.listenAddress);
    assert.deepEqual([...info.protocols].sort(), ['chain/1', 'direct/1', 'discovery/1', 'gossip/1', 'gossip/2', 'gossip/3', 'gossip/4', 'gossip/5']);
    await waitFor('b to list a', () => b.listPeers().length === 1);
    const back = b.listPeers()[0]!;
    assert.equal(back.nodeId, a.nodeId);
    assert.equal(back.direction, 'inbound');
    assert.equal(back.listenAddress, a.listenAddress);
    await waitFor('an RTT from a pong', () => (a.listPeers()[0]?.rttMs ?? -1) >= 0);
    const again = await a.addPeer(b.listenAddress, { persistent: false, timeoutMs: 5_000 });
    assert.equal(again.connectedSinceMs, info.connectedSinceMs, 'addPeer to a connected peer returns it');
    const p = a.listPeers()[0]!;
    assert.ok(p.bytesIn > 0 && p.bytesOut > 0 && p.messagesIn > 0 && p.messagesOut > 0);
    const infoA = await a.info();
    assert.equal(infoA.peersOutbound, 1);
    assert.equal(infoA.peersInbound, 0);
    assert.equal(infoA.listenAddress, a.listenAddress);
  });

  it('rejects malformed, own, refused and other-network addresses with typed errors', async () => {
    const a = await set.start();
    const opts = { persistent: false, timeoutMs: 3_000 };
    await assert.rejects(a.addPeer('nonsense', opts), { kind: 'invalid-argument' });
    await assert.rejects(a.addPeer(a.listenAddress, opts), { kind: 'invalid-argument' });
    await assert.rejects(a.addPeer(`localhost:${a.listenPort}`, opts), { kind: 'invalid-argument' });
    const gone = await set.start();
    const goneAddress = gone.listenAddress;
    await gone.stop();
    await assert.rejects(a.addPeer(goneAddress, opts), { kind: 'refused' });
    const other = await set.start({ network: 'othernet' });
    await assert.rejects(a.addPeer(other.listenAddress, opts), { kind: 'wrong-network' });
    // Our own listener behind another address: the handshake finds it is us.
    const mirror = new StallingProxy(a.listenPort);
    await mirror.start();
    try {
      await assert.rejects(a.addPeer(mirror.address, opts), { kind: 'invalid-argument', message: /is this node itself/ });
    } finally {
      await mirror.close();
    }
    assert.equal(a.listPeers().length, 0);
    await assert.rejects(a.removePeer('nope'), { kind: 'not-found' });
  });

  it('simultaneous dials both ways leave exactly one connection, the same at both ends (20 rounds)', async () => {
    const a = await set.start();
    const b = await set.start();
    const lower = a.nodeId < b.nodeId ? a : b;
    const gotA = collect(a);
    const gotB = collect(b);
    for (let round = 0; round < 20; round++) {
      await Promise.all([
        a.addPeer(b.listenAddress, { persistent: false, timeoutMs: 5_000 }),
        b.addPeer(a.listenAddress, { persistent: false, timeoutMs: 5_000 }),
      ]);
      // Sent while a duplicate may still be being resolved: must not be lost.
      await Promise.all([a.broadcast('dup', utf8(`a${round}`)), b.broadcast('dup', utf8(`b${round}`))]);
      const settled = (): boolean => {
        const pa = a.listPeers();
        const pb = b.listPeers();
        return pa.length === 1 && pb.length === 1 && pa[0]!.direction !== pb[0]!.direction;
      };
      await waitFor(`round ${round} to settle on one connection`, settled);
      const fromLower = lower.listPeers()[0]!;
      assert.equal(fromLower.direction, 'outbound', 'the connection dialled by the lower id survives');
      await waitFor(`round ${round}: both messages across`, () =>
        gotA.some((m) => text(m.payload) === `b${round}`) && gotB.some((m) => text(m.payload) === `a${round}`),
      );
      assert.ok(settled());
      await a.removePeer(b.nodeId);
      await waitFor('both ends to drop the peer', () => a.listPeers().length === 0 && b.listPeers().length === 0);
    }
    // Each message delivered exactly once at each end (own broadcasts included).
    assert.equal(gotA.length, 40);
    assert.equal(gotB.length, 40);
  });

  it('opens an extra registered protocol only with peers that advertise it, and closes it with the session', async () => {
    const events: string[] = [];
    const probe = (label: string): Protocol => ({
      name: 'probe',
      versions: [1],
      envelopes: [],
      onOpen: (peer) => events.push(`${label} open ${peer.id.slice(0, 4)}`),
      onMessage: () => undefined,
      onClose: (peer, cause) => events.push(`${label} close ${peer.id.slice(0, 4)} ${cause}`),
    });
    const a = new Node(set.config(await set.dir()));
    const b = new Node(set.config(await set.dir()));
    a.registerProtocol(probe('a'));
    b.registerProtocol(probe('b'));
    set.nodes.push(a, b);
    await a.start();
    await b.start();
    assert.throws(() => a.registerProtocol(probe('late')), { kind: 'failed-precondition' });
    const plain = await set.start();
    await link(a, b);
    await link(a, plain);
    const atA = a.listPeers().find((p) => p.nodeId === b.nodeId)!;
    assert.ok(atA.protocols.includes('probe/1'));
    await waitFor('b to open probe', () => events.includes(`b open ${a.nodeId.slice(0, 4)}`));
    assert.deepEqual(
      events.filter((e) => e.startsWith('a ')),
      [`a open ${b.nodeId.slice(0, 4)}`],
      'not opened with the peer that does not speak it',
    );
    await a.removePeer(b.nodeId);
    assert.ok(events.includes(`a close ${b.nodeId.slice(0, 4)} requested`));
    await waitFor('b to close probe', () => events.includes(`b close ${a.nodeId.slice(0, 4)} requested`));
  });

  it('refuses peers over maxInbound with too-many-peers', async () => {
    const c = await set.start({ maxInbound: 1 });
    const a = await set.start();
    const b = await set.start();
    await link(a, c);
    const refused = nextPeerEvent(b, (ev) => ev.type === 'disconnected');
    await b.addPeer(c.listenAddress, { persistent: false, timeoutMs: 5_000 }).catch(() => undefined);
    const ev = await refused;
    assert.equal(ev.type === 'disconnected' && ev.reason, 'too-many-peers');
    assert.deepEqual(c.listPeers().map((p) => p.nodeId), [a.nodeId]);
  });

  it('removePeer by address disconnects and the other side hears "requested"', async () => {
    const a = await set.start();
    const b = await set.start();
    await link(a, b);
    const ev = nextPeerEvent(b, (e) => e.type === 'disconnected');
    const removed = await a.removePeer(b.listenAddress);
    assert.equal(removed.nodeId, b.nodeId);
    const got = await ev;
    assert.equal(got.type === 'disconnected' && got.reason, 'requested');
    assert.equal(a.listPeers().length, 0);
  });

  it('sendToPeer reaches only that peer and is not logged', async () => {
    const a = await set.start();
    const b = await set.start();
    await link(a, b);
    const direct = new Promise<{ from: string; topic: string }>((resolve) => b.onDirect((m) => resolve(m)));
    await a.sendToPeer(b.nodeId, 'hi', utf8('just you'));
    const m = await direct;
    assert.equal(m.from, a.nodeId);
    assert.equal(m.topic, 'hi');
    assert.equal((await b.info()).messageLogSize, 0);
    await assert.rejects(a.sendToPeer('00'.repeat(32), 'hi', utf8('x')), { kind: 'not-found' });
  });

  it('drops a peer that sends a message for a protocol it did not advertise', async () => {
    const a = await set.start();
    const conn = await rawDial(a, []);
    const done = closed(conn);
    const dropped = nextPeerEvent(a, (e) => e.type === 'disconnected');
    const origin = new Uint8Array(32);
    conn.send(
      create(EnvelopeSchema, {
        kind: { case: 'gossip', value: create(GossipMessageSchema, { id: new Uint8Array(32), origin, topic: 't', ttl: 1 }) },
      }),
    );
    const info = await done;
    assert.equal(info.reason, DisconnectReason.PROTOCOL_VIOLATION);
    const ev = await dropped;
    assert.equal(ev.type === 'disconnected' && ev.reason, 'protocol-violation');
  });

  it('drops a peer whose gossip id does not match its content', async () => {
    const a = await set.start();
    const conn = await rawDial(a, [{ name: 'gossip', versions: [1] }]);
    const done = closed(conn);
    conn.send(
      create(EnvelopeSchema, {
        kind: {
          case: 'gossip',
          value: create(GossipMessageSchema, { id: new Uint8Array(32), origin: new Uint8Array(32), topic: 't', ttl: 1, timestampMs: BigInt(Date.now()) }),
        },
      }),
    );
    assert.equal((await done).reason, DisconnectReason.PROTOCOL_VIOLATION);
    assert.equal((await a.info()).messageLogSize, 0);
  });

  it('drops a silent peer with timeout and a non-reading one with slow-reader', async () => {
    const a = await set.start({ tuning: { pingIntervalMs: 100, pingTimeoutMs: 600 } });
    const b = await set.start({ tuning: { pingIntervalMs: 100, pingTimeoutMs: 600 } });
    const proxy = new StallingProxy(a.listenPort);
    await proxy.start();
    try {
      await b.addPeer(proxy.address, { persistent: false, timeoutMs: 5_000 });
      await waitFor('a to see b', () => a.listPeers().length === 1);
      const timedOut = nextPeerEvent(a, (e) => e.type === 'disconnected');
      proxy.freeze();
      const ev = await timedOut;
      assert.equal(ev.type === 'disconnected' && ev.reason, 'timeout');
    } finally {
      await proxy.close();
    }

    const big = 64 * 1024;
    const c = await set.start({ tuning: { maxQueuedBytes: 512 * 1024, pingTimeoutMs: 30_000 } });
    // Its dialer must not time c out first: c's pongs pile up behind the stalled proxy too.
    const d = await set.start({ tuning: { pingTimeoutMs: 30_000 } });
    const slow = new StallingProxy(c.listenPort);
    await slow.start();
    try {
      await d.addPeer(slow.address, { persistent: false, timeoutMs: 5_000 });
      await waitFor('c to see b', () => c.listPeers().length === 1);
      const dropped = nextPeerEvent(c, (e) => e.type === 'disconnected');
      slow.stall();
      let reason = '';
      void dropped.then((e) => (reason = e.type === 'disconnected' ? e.reason : ''));
      // Bounded: 400 x 64 KiB = 25 MiB, far past what the kernel buffers plus the 512 KiB limit hold.
      for (let i = 0; i < 400 && reason === ''; i++) {
        await c.broadcast('bulk', new Uint8Array(big).fill(i & 0xff));
        await new Promise((r) => setImmediate(r));
      }
      const ev = await dropped;
      assert.equal(ev.type === 'disconnected' && ev.reason, 'slow-reader');
    } finally {
      await slow.close();
    }
  });
});
