import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { generateIdentity, type NodeIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { EnvelopeSchema, FindNodeSchema, GetPeersSchema, NodeListSchema, NodeRecordSchema, PingSchema } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import type { Node } from '../../src/node/node.js';
import type { PeerEvent } from '../../src/node/types.js';
import { dialSecure, PROTOCOL_VERSION } from '../../src/transport/index.js';
import type { SecureConnection } from '../../src/transport/types.js';
import { FAST_DISCOVERY } from './discovery-harness.js';
import { collect, NodeSet, utf8, waitFor } from './node-harness.js';

const N = 20;
const outbound = (n: Node): number => n.listPeers().filter((p) => p.direction === 'outbound').length;

/** True when every node reaches every other over current sessions. */
function connected(nodes: Node[]): boolean {
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const seen = new Set<string>([nodes[0]!.nodeId]);
  const queue = [nodes[0]!];
  while (queue.length > 0) {
    const n = queue.shift()!;
    for (const p of n.listPeers()) {
      if (seen.has(p.nodeId) || !byId.has(p.nodeId)) continue;
      seen.add(p.nodeId);
      queue.push(byId.get(p.nodeId)!);
    }
  }
  return seen.size === nodes.length;
}

/** A hand-driven session to `node` as `identity`, speaking discovery, for hostile-peer tests. */
function dialAs(node: Node, identity: NodeIdentity, listenPort = 0, protocols = [{ name: 'discovery', versions: [1] }]): Promise<SecureConnection> {
  const [host, port] = [node.listenAddress.split(':')[0]!, Number(node.listenAddress.split(':')[1])];
  return dialSecure(host, port, {
    identity,
    hello: {
      networkId: networkIdFor('testnet'),
      protocolVersion: PROTOCOL_VERSION,
      listenPort,
      protocols,
      userAgent: 'hostile-test',
    },
    handshakeTimeoutMs: 3_000,
    maxFrameBytes: 1 << 20,
  });
}

function closed(conn: SecureConnection): Promise<number> {
  return new Promise((resolve) => conn.once('close', (info: { reason: number }) => resolve(info.reason)));
}

describe(`discovery: ${N} nodes bootstrapped from one seed`, () => {
  const set = new NodeSet();
  const nodes: Node[] = [];
  after(() => set.cleanup());

  before(async () => {
    const limits = { maxInbound: 64, maxOutbound: 8, discovery: FAST_DISCOVERY };
    const seed = await set.start(limits);
    nodes.push(seed);
    for (let i = 1; i < N; i++) nodes.push(await set.start({ ...limits, seeds: [seed.listenAddress] }));
  });

  it('every node fills its 8 outbound slots, the graph is connected, a broadcast reaches all once', async () => {
    await waitFor('8 outbound peers on every node', () => nodes.every((n) => outbound(n) >= 8), 30_000).catch((err: unknown) => {
      console.log(nodes.map((n) => `${outbound(n)}/${n.listPeers().length}/${n.discovery!.knownPeers().length}`).join(' '));
      throw err;
    });
    for (const n of nodes) assert.ok(n.listPeers().filter((p) => p.direction === 'inbound').length <= 64);
    assert.ok(connected(nodes), 'connection graph is connected');

    const got = nodes.map((n) => collect(n));
    const origin = nodes[7]!;
    const first = await origin.broadcast('chat', utf8('to everyone'));
    const hex = Buffer.from(first.id).toString('hex');
    const count = (i: number): number => got[i]!.filter((m) => Buffer.from(m.id).toString('hex') === hex).length;
    await waitFor('the broadcast everywhere', () => nodes.every((_, i) => count(i) >= 1), 15_000);
    // A second message from the same origin as a barrier: late copies of the first would be in by now.
    const second = await origin.broadcast('chat', utf8('barrier'));
    const hex2 = Buffer.from(second.id).toString('hex');
    await waitFor('the barrier everywhere', () => got.every((g) => g.some((m) => Buffer.from(m.id).toString('hex') === hex2)), 15_000);
    for (let i = 0; i < N; i++) assert.equal(count(i), 1, `node ${i} delivered the broadcast once`);
  });

  it('FindNode resolves a node the caller is not connected to', async () => {
    const late = await set.start({ maxInbound: 64, maxOutbound: 2, seeds: [nodes[0]!.listenAddress], discovery: FAST_DISCOVERY });
    await waitFor('the late node fills its 2 outbound slots', () => outbound(late) >= 2);
    const mine = new Set(late.listPeers().map((p) => p.nodeId));
    const targets = nodes.filter((n) => !mine.has(n.nodeId));
    assert.ok(targets.length >= 10, `${targets.length} nodes not connected to the late node`);
    // Its self-lookup at start is over (or ends) before these are judged.
    await waitFor('the late node\'s self-lookup to end', () => late.discovery!.lookupsInFlight() === 0);
    for (const target of targets.slice(0, 3)) {
      const pending = late.discovery!.findNode(target.nodeId, 10_000);
      assert.equal(late.discovery!.lookupsInFlight(), 1, 'a findNode is a lookup in flight');
      const r = await pending;
      assert.equal(r.address, target.listenAddress);
      assert.equal(late.discovery!.lookupsInFlight(), 0);
    }
    await assert.rejects(late.discovery!.findNode('ab'.repeat(32), 3_000), (err: Error & { kind?: string }) => err.kind === 'not-found');
  });

  it('the peer store lists what discovery learnt', () => {
    const known = nodes[3]!.discovery!.knownPeers();
    assert.ok(known.length >= 8);
    assert.ok(known.some((k) => k.lastSuccessMs > 0 && k.nodeId.length === 64));
  });
});

describe('discovery: bans and misbehaviour', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('a banned node id is dropped, cannot reconnect until unbanned; the ban is an event', async () => {
    const a = await set.start({ discovery: FAST_DISCOVERY });
    const b = await set.start({ discovery: FAST_DISCOVERY, peers: [] });
    await b.addPeer(a.listenAddress, { persistent: false, timeoutMs: 5_000 });
    await waitFor('a lists b', () => a.listPeers().some((p) => p.nodeId === b.nodeId));
    const events: PeerEvent[] = [];
    a.onPeerEvent((ev) => events.push(ev));
    const ban = await a.discovery!.ban(b.nodeId, 60_000, 'test ban');
    assert.equal(ban.target, b.nodeId);
    await waitFor('b dropped', () => !a.listPeers().some((p) => p.nodeId === b.nodeId));
    assert.ok(events.some((e) => e.type === 'banned' && e.ban.target === b.nodeId && e.ban.reason === 'test ban'));
    assert.ok(events.some((e) => e.type === 'disconnected' && e.peer.nodeId === b.nodeId && e.reason === 'banned'));
    // The ban is checked once the handshake has authenticated the node: b's dial may complete, but a
    // closes the session at once with BANNED and never lists it.
    const refused = new Promise<PeerEvent>((resolve) => {
      const off = b.onPeerEvent((ev) => {
        if (ev.type === 'disconnected' && ev.peer.nodeId === a.nodeId) {
          off();
          resolve(ev);
        }
      });
    });
    await b.addPeer(a.listenAddress, { persistent: false, timeoutMs: 3_000 }).catch(() => undefined);
    const ev = await refused;
    assert.equal(ev.type === 'disconnected' && ev.reason, 'banned');
    assert.ok(!a.listPeers().some((p) => p.nodeId === b.nodeId));
    assert.deepEqual(a.discovery!.bans().map((x) => x.target), [b.nodeId]);
    await a.discovery!.unban(b.nodeId);
    await b.addPeer(a.listenAddress, { persistent: false, timeoutMs: 5_000 });
    await waitFor('b back', () => a.listPeers().some((p) => p.nodeId === b.nodeId));
  });

  it('a peer sending malformed discovery answers is scored, disconnected and banned', async () => {
    const a = await set.start({ discovery: FAST_DISCOVERY });
    const identity = generateIdentity();
    const conn = await dialAs(a, identity);
    const gone = closed(conn);
    const bad = create(EnvelopeSchema, {
      kind: { case: 'nodeList', value: create(NodeListSchema, { requestId: 42n, nodes: [create(NodeRecordSchema, { nodeId: new Uint8Array(3), address: 'x' })] }) },
    });
    // Each unsolicited, malformed answer costs 25 points; the fourth reaches the threshold.
    for (let i = 0; i < 4; i++) conn.send(bad, 'control');
    const reason = await gone;
    assert.equal(reason, 11, 'closed with DISCONNECT_REASON_BANNED');
    assert.ok(a.discovery!.bans().some((x) => x.target === identity.nodeIdHex), 'the node id is banned');
  });

  it('a peer flooding discovery requests is scored, disconnected and banned', async () => {
    const a = await set.start({ discovery: FAST_DISCOVERY });
    const identity = generateIdentity();
    const conn = await dialAs(a, identity);
    const gone = closed(conn);
    const ask = create(EnvelopeSchema, { kind: { case: 'getPeers', value: create(GetPeersSchema, { max: 10 }) } });
    for (let i = 0; i < 60; i++) conn.send(ask, 'control');
    assert.equal(await gone, 11);
    assert.ok(a.discovery!.bans().some((x) => x.target === identity.nodeIdHex), 'the node id is banned');
    // The same node cannot come back.
    const again = await dialAs(a, identity);
    assert.equal(await closed(again), 11);
  });
});

describe('discovery: our own timeouts are not the peer\'s misbehaviour', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('answers that arrive after our query timed out are late, not unsolicited: no score, no ban', async () => {
    const a = await set.start({ discovery: { ...FAST_DISCOVERY, queryTimeoutMs: 300 } });
    const identity = generateIdentity();
    // A full session (it claims a listen port, so it goes into the routing table), not a query session.
    const conn = await dialAs(a, identity, 1, [{ name: 'discovery', versions: [1] }, { name: 'gossip', versions: [1] }]);
    // A slow but honest peer: it answers every FindNode, after a's timeout.
    const answers: Promise<void>[] = [];
    conn.on('message', (env: { kind: { case?: string; value?: unknown } }) => {
      if (env.kind.case !== 'findNode') return;
      const requestId = (env.kind.value as { requestId: bigint }).requestId;
      answers.push(
        new Promise((resolve) =>
          setTimeout(() => {
            conn.send(create(EnvelopeSchema, { kind: { case: 'nodeList', value: create(NodeListSchema, { requestId, nodes: [] }) } }), 'control');
            resolve();
          }, 600),
        ),
      );
    });
    await waitFor('the peer is in the routing table', () => a.listPeers().some((p) => p.nodeId === identity.nodeIdHex));
    // Each lookup asks the only contact, gives up at 300 ms, and then gets the answer: four late answers (100 points if scored).
    for (let i = 0; i < 4; i++) {
      const before = answers.length;
      await assert.rejects(a.discovery!.findNode(generateIdentity().nodeIdHex, 1_000));
      await waitFor('the lookup asked the slow peer', () => answers.length > before);
    }
    await Promise.all(answers);
    // A ping round trip after the last answer: a has handled everything sent before it.
    const pong = new Promise<void>((resolve) => {
      conn.on('message', (env: { kind: { case?: string } }) => env.kind.case === 'pong' && resolve());
      conn.once('close', () => resolve());
      if (conn.closed) resolve();
    });
    conn.send(create(EnvelopeSchema, { kind: { case: 'ping', value: create(PingSchema, { value: 7n }) } }), 'control');
    await pong;
    assert.equal(conn.closed, false, 'the slow peer is still connected');
    assert.deepEqual(a.discovery!.bans(), []);
    conn.close(0);
  });
});

describe('discovery: a node learns from who asks it', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  /** Ask `a` over a fresh query session for the nodes nearest `target`; the answer's records as [id, address]. */
  async function ask(a: Node, identity: NodeIdentity, listenPort: number, target: Uint8Array): Promise<[string, string][]> {
    const conn = await dialAs(a, identity, listenPort);
    const answer = new Promise<[string, string][]>((resolve) =>
      conn.on('message', (env: { kind: { case?: string; value?: unknown } }) => {
        if (env.kind.case !== 'nodeList') return;
        const nodes = (env.kind.value as { nodes: { nodeId: Uint8Array; address: string }[] }).nodes;
        resolve(nodes.map((n) => [Buffer.from(n.nodeId).toString('hex'), n.address]));
      }),
    );
    conn.send(create(EnvelopeSchema, { kind: { case: 'findNode', value: create(FindNodeSchema, { requestId: 1n, target }) } }));
    const nodes = await answer;
    conn.close(0);
    return nodes;
  }

  it('a FindNode over a query session that names a listen port makes the asker a contact others are told of; one without does not', async () => {
    const a = await set.start({ discovery: FAST_DISCOVERY });
    const asker = generateIdentity();
    const silent = generateIdentity();
    await ask(a, asker, 45_678, Buffer.alloc(32, 7));
    await ask(a, silent, 0, Buffer.alloc(32, 7));
    const nearAsker = await ask(a, generateIdentity(), 0, Buffer.from(asker.nodeIdHex, 'hex'));
    assert.deepEqual(nearAsker.filter(([id]) => id === asker.nodeIdHex), [[asker.nodeIdHex, '127.0.0.1:45678']]);
    const nearSilent = await ask(a, generateIdentity(), 0, Buffer.from(silent.nodeIdHex, 'hex'));
    assert.ok(!nearSilent.some(([id]) => id === silent.nodeIdHex), 'a query session without a listen port is not a contact');
    assert.equal(a.listPeers().length, 0, 'query sessions are not peers');
  });
});

describe('discovery: one extra outbound peer, rotated', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('with its outbound slots full a node dials one extra peer at random each period and lets the last one go', async () => {
    const limits = { maxInbound: 64, maxOutbound: 8, discovery: FAST_DISCOVERY };
    const seed = await set.start(limits);
    const others: Node[] = [];
    for (let i = 0; i < 5; i++) others.push(await set.start({ ...limits, seeds: [seed.listenAddress] }));
    // x takes no inbound links: on 7 nodes the others (8 outbound slots each)
    // would soon all be connected to x, leaving it nobody to dial as an extra
    // peer (seen in CI: stuck at 3 different outbound peers for 30 s).
    const x = await set.start({ maxInbound: 0, maxOutbound: 1, seeds: [seed.listenAddress], discovery: { ...FAST_DISCOVERY, extraPeerIntervalMs: 300 } });
    const seen = new Set<string>();
    let most = 0;
    await waitFor(
      'x to have had 4 different outbound peers, one slot and one extra at a time',
      () => {
        const out = x.listPeers().filter((p) => p.direction === 'outbound');
        most = Math.max(most, out.length);
        for (const p of out) seen.add(p.nodeId);
        return seen.size >= 4;
      },
      30_000,
    );
    assert.ok(most <= 2, `at most its 1 slot and the extra peer at once (saw ${most})`);
    await waitFor('x with its slot and its extra peer', () => outbound(x) === 2, 10_000);
  });
});
