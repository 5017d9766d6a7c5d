import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { PheromonesError } from '../../src/errors.js';
import {
  DirectSchema,
  DisconnectReason,
  EnvelopeSchema,
  PingSchema,
  PongSchema,
  type Envelope,
} from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { DEFAULT_TUNING, type NodeTuning } from '../../src/node/config.js';
import type { DisconnectCause, PeerEvent } from '../../src/node/types.js';
import type { Peer } from '../../src/peer/peer.js';
import { PeerManager } from '../../src/peer/peer-manager.js';
import type { Protocol } from '../../src/peer/protocol.js';
import { FakeConn } from '../helpers/fake-connection.js';
import type { CloseInfo } from '../../src/transport/types.js';

const LOCAL = '55'.repeat(32);
const LOWER = '11'.repeat(32);
const HIGHER = 'ee'.repeat(32);

function direct(topic: string): Envelope['kind'] {
  return { case: 'direct', value: create(DirectSchema, { topic, payload: new Uint8Array() }) };
}

interface Recorded {
  opened: string[];
  messages: string[];
  closed: [string, DisconnectCause][];
}

function echoProtocol(rec: Recorded, onMessage?: (peer: Peer, env: Envelope) => void): Protocol {
  return {
    name: 'echo',
    versions: [1],
    envelopes: ['direct'],
    onOpen: (peer) => rec.opened.push(peer.id),
    onMessage: (peer, env) => {
      rec.messages.push(env.kind.case === 'direct' ? env.kind.value.topic : '?');
      onMessage?.(peer, env);
    },
    onClose: (peer, cause) => rec.closed.push([peer.id, cause]),
  };
}

function manager(tuning: Partial<NodeTuning> = {}, slots = { maxInbound: 8, maxOutbound: 8 }) {
  const rec: Recorded = { opened: [], messages: [], closed: [] };
  const events: PeerEvent[] = [];
  const m = new PeerManager({
    localId: LOCAL,
    tuning: { ...DEFAULT_TUNING, ...tuning },
    ...slots,
    logger: pino({ level: 'silent' }),
    dial: () => Promise.reject(new PheromonesError('refused', 'no dialling in unit tests')),
  });
  m.onEvent((ev) => events.push(ev));
  return { m, rec, events };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('PeerManager protocols', () => {
  it('opens, dispatches and closes a protocol both sides speak', async () => {
    const { m, rec, events } = manager();
    m.registerProtocol(echoProtocol(rec));
    const conn = new FakeConn('inbound', HIGHER);
    m.accept(conn);
    assert.deepEqual(rec.opened, [HIGHER]);
    conn.deliver(direct('one'));
    conn.deliver(direct('two'));
    assert.deepEqual(rec.messages, ['one', 'two']);
    const info = m.list()[0]!;
    assert.equal(info.messagesIn, 2);
    assert.deepEqual(info.protocols, ['echo/1']);
    assert.equal(info.listenAddress, '127.0.0.1:7000');
    conn.emit('close', { reason: DisconnectReason.UNSPECIFIED, detail: 'gone', remote: true } satisfies CloseInfo);
    assert.deepEqual(rec.closed, [[HIGHER, 'connection-lost']]);
    assert.deepEqual(events.map((e) => e.type), ['connected', 'disconnected']);
    assert.equal(m.list().length, 0);
  });

  it("sends each protocol's frames on its own queue and counts traffic per protocol", async () => {
    const { m, rec } = manager();
    m.registerProtocol(echoProtocol(rec, (peer, env) => peer.send(env)));
    const conn = new FakeConn('inbound', HIGHER);
    m.accept(conn);
    conn.deliver(direct('one'));
    conn.deliver(direct('two'));
    conn.deliver({ case: 'ping', value: create(PingSchema, { value: 7n }) });
    // The ping is the one every session opens with (its round trip is wanted at once).
    assert.deepEqual(conn.sent.map((s) => [s.env.kind.case, s.queue]), [['ping', 'control'], ['direct', 'echo'], ['direct', 'echo'], ['pong', 'control']]);
    const bodyBytes = (env: Envelope): number => toBinary(EnvelopeSchema, env).length;
    const traffic = m.list()[0]!.traffic;
    assert.deepEqual(traffic.map((t) => t.protocol), ['control', 'echo']);
    const echo = traffic[1]!;
    // FakeConn reports every delivery as a 10-byte body.
    assert.deepEqual([echo.framesIn, echo.bytesIn, echo.framesOut, echo.bytesOut], [2, 20, 2, bodyBytes(conn.sent[1]!.env) + bodyBytes(conn.sent[2]!.env)]);
    assert.deepEqual([traffic[0]!.framesIn, traffic[0]!.framesOut], [1, 2]);
    await m.stop();
  });

  it('drops a peer sending for a protocol it did not advertise, or in no common version', async () => {
    for (const protocols of [[], [{ name: 'echo', versions: [2] }]]) {
      const { m, rec } = manager();
      m.registerProtocol(echoProtocol(rec));
      const conn = new FakeConn('inbound', HIGHER, protocols);
      m.accept(conn);
      assert.deepEqual(rec.opened, []);
      conn.deliver(direct('x'));
      assert.equal(conn.closeReason, DisconnectReason.PROTOCOL_VIOLATION);
      assert.deepEqual(rec.messages, []);
      assert.deepEqual(rec.closed, [], 'onClose only for protocols that were opened');
    }
  });

  it('drops a peer whose message a handler rejects as a protocol violation', async () => {
    const { m, rec, events } = manager();
    m.registerProtocol(
      echoProtocol(rec, () => {
        throw new PheromonesError('protocol-violation', 'bad echo');
      }),
    );
    const conn = new FakeConn('inbound', HIGHER);
    m.accept(conn);
    conn.deliver(direct('x'));
    assert.equal(conn.closeReason, DisconnectReason.PROTOCOL_VIOLATION);
    const last = events.at(-1)!;
    assert.equal(last.type === 'disconnected' && last.reason, 'protocol-violation');
    assert.deepEqual(rec.closed, [[HIGHER, 'protocol-violation']]);
  });

  it('rejects two protocols claiming one envelope case', () => {
    const { m, rec } = manager();
    m.registerProtocol(echoProtocol(rec));
    assert.throws(() => m.registerProtocol({ ...echoProtocol(rec), name: 'other' }), { kind: 'already-exists' });
  });
});

describe('PeerManager sessions', () => {
  it('keeps the connection dialled by the lower id and still reads the loser for a grace period', async () => {
    // LOCAL (55..) vs HIGHER (ee..): we are lower, so our outbound wins.
    const { m, rec } = manager({ handshakeTimeoutMs: 60 });
    m.registerProtocol(echoProtocol(rec));
    const out = new FakeConn('outbound', HIGHER);
    const inb = new FakeConn('inbound', HIGHER);
    m.accept(inb);
    m.accept(out);
    assert.equal(m.list().length, 1);
    assert.equal(m.list()[0]!.direction, 'outbound');
    assert.equal(inb.closed, false, 'the loser is not closed at once');
    inb.deliver(direct('late on loser'));
    assert.deepEqual(rec.messages, ['late on loser']);
    await sleep(120);
    assert.equal(inb.closeReason, DisconnectReason.DUPLICATE);
    assert.equal(out.closed, false);

    // Against a lower remote, the inbound (its dial) wins whatever the order.
    const other = manager({ handshakeTimeoutMs: 60 });
    const in2 = new FakeConn('inbound', LOWER);
    const out2 = new FakeConn('outbound', LOWER);
    other.m.accept(in2);
    other.m.accept(out2);
    assert.equal(other.m.list()[0]!.direction, 'inbound');
    await sleep(120);
    assert.equal(out2.closeReason, DisconnectReason.DUPLICATE);
    assert.equal(in2.closed, false);
  });

  it('never admits a connection to itself', async () => {
    const { m } = manager();
    const conn = new FakeConn('inbound', LOCAL);
    m.accept(conn);
    await tick();
    assert.equal(conn.closeReason, DisconnectReason.SELF);
    assert.equal(m.list().length, 0);
  });

  it('refuses inbound peers past maxInbound with TOO_MANY_PEERS', async () => {
    const { m } = manager({}, { maxInbound: 1, maxOutbound: 1 });
    m.accept(new FakeConn('inbound', HIGHER));
    const extra = new FakeConn('inbound', LOWER);
    m.accept(extra);
    await tick();
    assert.equal(extra.closeReason, DisconnectReason.TOO_MANY_PEERS);
    assert.equal(m.list().length, 1);
  });

  it('pings on the control queue, measures RTT from the pong, and drops a silent peer', async () => {
    const { m, events } = manager({ pingIntervalMs: 20, pingTimeoutMs: 150 });
    m.start();
    const conn = new FakeConn('inbound', HIGHER);
    m.accept(conn);
    const pings = () => conn.sent.filter((s) => s.env.kind.case === 'ping');
    const ping = pings()[0];
    assert.ok(ping, 'a ping goes out as the session opens');
    assert.equal(ping.queue, 'control');
    assert.equal(m.list()[0]!.rttMs, -1, 'no round trip before the pong');
    if (ping.env.kind.case === 'ping') {
      conn.deliver({ case: 'pong', value: create(PongSchema, { value: ping.env.kind.value.value }) });
    }
    assert.ok(m.list()[0]!.rttMs >= 0);
    await sleep(60);
    assert.ok(pings().length >= 2, 'and then one every interval');
    await sleep(400);
    assert.equal(conn.closeReason, DisconnectReason.TIMEOUT);
    const last = events.at(-1)!;
    assert.equal(last.type === 'disconnected' && last.reason, 'timeout');
    await m.stop();
  });

  it('drops a peer whose send queue is over the limit as a slow reader', () => {
    const { m } = manager({ maxQueuedBytes: 1000 });
    const conn = new FakeConn('inbound', HIGHER);
    m.accept(conn);
    const peer = m.get(HIGHER)!;
    conn.queuedBytes = 1001;
    peer.send(create(EnvelopeSchema, { kind: direct('bulk') }));
    assert.equal(conn.closeReason, DisconnectReason.SLOW_READER);
  });

  it('stop() disconnects every peer with REQUESTED', async () => {
    const { m } = manager();
    const a = new FakeConn('inbound', HIGHER);
    const b = new FakeConn('outbound', LOWER);
    m.accept(a);
    m.accept(b);
    await m.stop();
    assert.equal(a.closeReason, DisconnectReason.REQUESTED);
    assert.equal(b.closeReason, DisconnectReason.REQUESTED);
    assert.equal(m.list().length, 0);
  });
});

describe('PeerManager scores only what a peer provably did', () => {
  function banWatch(m: PeerManager): string[] {
    const bans: string[] = [];
    m.setPolicy({ onBan: (peer, reason) => bans.push(`${peer.id}: ${reason}`) });
    return bans;
  }

  it('a connection closed for a damaged record, a reset or a timeout scores nothing', async () => {
    const { m, rec } = manager();
    m.registerProtocol(echoProtocol(rec));
    const bans = banWatch(m);
    const closes: CloseInfo[] = [
      { reason: DisconnectReason.CORRUPT_RECORD, detail: 'sealed record failed authentication', remote: false },
      // A transport error reported as a violation but not marked as the peer's offence.
      { reason: DisconnectReason.PROTOCOL_VIOLATION, detail: 'record length out of bounds', remote: false },
      { reason: DisconnectReason.UNSPECIFIED, detail: 'socket error: ECONNRESET', remote: true },
      { reason: DisconnectReason.TIMEOUT, detail: 'nothing heard', remote: false },
    ];
    // The same node comes back after each: a score would accumulate across sessions only through bans, so check each.
    for (const info of closes) {
      const conn = new FakeConn('inbound', HIGHER);
      m.accept(conn);
      conn.emit('close', info);
      await tick();
    }
    assert.deepEqual(bans, []);
  });

  it('an authenticated record holding an undecodable frame is an offence that bans', async () => {
    const { m, rec } = manager();
    m.registerProtocol(echoProtocol(rec));
    const bans = banWatch(m);
    const conn = new FakeConn('inbound', HIGHER);
    m.accept(conn);
    conn.emit('close', { reason: DisconnectReason.PROTOCOL_VIOLATION, detail: 'frame body is not a valid Envelope', remote: false, offence: true } satisfies CloseInfo);
    await tick();
    assert.equal(bans.length, 1);
    assert.match(bans[0]!, /not a valid Envelope/);
  });

  it('a handler that hits one of our own limits drops the peer without scoring it', async () => {
    const { m, rec, events } = manager();
    m.registerProtocol(
      echoProtocol(rec, () => {
        throw new PheromonesError('resource-exhausted', 'our queue for this peer is full');
      }),
    );
    const bans = banWatch(m);
    for (let i = 0; i < 3; i++) {
      const conn = new FakeConn('inbound', HIGHER);
      m.accept(conn);
      conn.deliver(direct('x'));
      assert.equal(conn.closeReason, DisconnectReason.REQUESTED);
      await tick();
    }
    assert.deepEqual(bans, []);
    const last = events.at(-1)!;
    assert.equal(last.type === 'disconnected' && last.reason, 'requested');
  });
});
