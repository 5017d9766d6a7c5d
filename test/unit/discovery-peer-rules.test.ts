/** The peer layer's slot, ban and misbehaviour rules that discovery relies on. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import {
  DirectSchema,
  DisconnectReason,
  type Envelope,
} from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { DEFAULT_TUNING } from '../../src/node/config.js';
import type { PeerEvent } from '../../src/node/types.js';
import type { Peer } from '../../src/peer/peer.js';
import { PeerManager, type PeerManagerOptions } from '../../src/peer/peer-manager.js';
import type { Protocol } from '../../src/peer/protocol.js';
import { FakeConn } from '../helpers/fake-connection.js';
import type { SecureConnection } from '../../src/transport/types.js';

const LOCAL = '55'.repeat(32);
const REMOTE = 'ee'.repeat(32);
const direct = (): Envelope['kind'] => ({ case: 'direct', value: create(DirectSchema, { topic: 't', payload: new Uint8Array() }) });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function sink(name: string, got: Peer[] = []): Protocol {
  return { name, versions: [1], envelopes: name === 'discovery' ? ['getPeers'] : ['direct'], onMessage: (peer) => void got.push(peer) };
}

function manager(over: Partial<PeerManagerOptions> = {}) {
  const bans: [string, string][] = [];
  const events: PeerEvent[] = [];
  const m = new PeerManager({
    localId: LOCAL,
    tuning: DEFAULT_TUNING,
    maxInbound: 8,
    maxOutbound: 8,
    logger: pino({ level: 'silent' }),
    dial: () => new Promise<SecureConnection>(() => undefined),
    ...over,
  });
  m.setPolicy({ onBan: (peer, reason) => void bans.push([peer.id, reason]) });
  m.onEvent((ev) => events.push(ev));
  return { m, bans, events };
}

describe('peer misbehaviour and bans', () => {
  it('frames past the flood limit score the peer; at the threshold it is banned and dropped', async () => {
    const { m, bans, events } = manager({ frameRate: 1, frameBurst: 5, banThreshold: 3 });
    m.registerProtocol(sink('echo'));
    const conn = new FakeConn('inbound', REMOTE, [{ name: 'echo', versions: [1] }]);
    m.accept(conn);
    for (let i = 0; i < 7; i++) conn.deliver(direct());
    assert.equal(bans.length, 0, 'two frames over the burst: 2 points');
    conn.deliver(direct());
    assert.equal(bans.length, 1);
    assert.match(bans[0]![1], /flood/);
    assert.equal(conn.closeReason, DisconnectReason.BANNED);
    await tick();
    const last = events.at(-1)!;
    assert.equal(last.type === 'disconnected' && last.reason, 'banned');
  });

  it('a message for a protocol not negotiated is a violation: dropped as such, and banned', () => {
    const { m, bans } = manager();
    m.registerProtocol(sink('echo'));
    const conn = new FakeConn('inbound', REMOTE, []);
    m.accept(conn);
    conn.deliver(direct());
    assert.equal(conn.closeReason, DisconnectReason.PROTOCOL_VIOLATION);
    assert.equal(bans.length, 1);
  });

  it('points add up per session; crossing the threshold bans once, with the last offence', () => {
    const { m, bans } = manager();
    m.registerProtocol(sink('echo'));
    const conn = new FakeConn('inbound', REMOTE, [{ name: 'echo', versions: [1] }]);
    m.accept(conn);
    const peer = m.get(REMOTE)!;
    m.misbehave(peer, 50, 'x');
    assert.equal(bans.length, 0);
    m.misbehave(peer, 50, 'y');
    m.misbehave(peer, 50, 'z');
    assert.deepEqual(bans, [[REMOTE, 'y']]);
    assert.equal(conn.closeReason, DisconnectReason.BANNED);
  });

  it('the policy refuses banned nodes after the handshake with BANNED', async () => {
    const { m, events } = manager();
    m.setPolicy({ refuse: (conn) => (conn.remoteId === REMOTE ? 'spam' : undefined) });
    const conn = new FakeConn('inbound', REMOTE, []);
    m.accept(conn);
    await tick();
    assert.equal(conn.closeReason, DisconnectReason.BANNED);
    assert.equal(m.list().length, 0);
    assert.equal(events.length, 0);
  });
});

describe('slots and query sessions', () => {
  it('an outbound slot is taken while dialling', async () => {
    const { m } = manager({ maxOutbound: 1 });
    void m.connect('127.0.0.1:9001', { persistent: false, timeoutMs: 1_000 }).catch(() => undefined);
    assert.equal(m.pendingOutbound(), 1);
    await assert.rejects(m.connect('127.0.0.1:9002', { persistent: false, timeoutMs: 1_000 }), (err: Error & { kind?: string }) => err.kind === 'resource-exhausted');
  });

  it('a query session is served beside the real session, never registered or announced', async () => {
    const { m, events } = manager();
    const got: Peer[] = [];
    m.registerProtocol(sink('discovery', got));
    m.registerProtocol(sink('echo'));
    const real = new FakeConn('inbound', REMOTE, [{ name: 'echo', versions: [1] }, { name: 'discovery', versions: [1] }]);
    m.accept(real);
    const query = new FakeConn('inbound', REMOTE, [{ name: 'discovery', versions: [1] }], 0);
    m.accept(query);
    query.deliver({ case: 'getPeers', value: { $typeName: 'pheromones.wire.v1.GetPeers', max: 1 } });
    assert.equal(got.length, 1);
    assert.ok(got[0]!.transient);
    assert.equal(m.get(REMOTE)?.conn, real, 'the real session stays registered');
    assert.equal(real.closed, false);
    assert.deepEqual(events.map((e) => e.type), ['connected']);
    assert.equal(m.count('inbound'), 1);
    query.deliver(direct());
    assert.equal(query.closeReason, DisconnectReason.PROTOCOL_VIOLATION, 'a query session speaks discovery only');
    await tick();
    assert.equal(real.closed, false);
  });
});
