import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { VirtualClock } from '../../bench/sim/clock.js';
import { broadcastScenario } from '../../bench/sim/scenarios.js';
import { SimConnection, SimNetwork } from '../../bench/sim/transport.js';
import { generateIdentity } from '../../src/crypto/identity.js';
import { DisconnectReason, PingSchema, type Envelope } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { PROTOCOL_VERSION } from '../../src/transport/handshake.js';
import type { CloseInfo, SecureConnection, SecureTransportOptions } from '../../src/transport/types.js';
import { envelope } from '../../src/wire/envelope.js';

function options(listenPort: number): SecureTransportOptions {
  return {
    identity: generateIdentity(),
    hello: { networkId: 7, protocolVersion: PROTOCOL_VERSION, listenPort, protocols: [{ name: 'echo', versions: [1] }], userAgent: 'sim-test' },
    handshakeTimeoutMs: 5_000,
    maxFrameBytes: 1 << 20,
  };
}

function ping(value: bigint): Envelope {
  return envelope({ case: 'ping', value: create(PingSchema, { value }) });
}

/** Run the clock until the promise settles (bounded in simulated time). */
async function until<T>(clock: VirtualClock, p: Promise<T>): Promise<T> {
  let done = false;
  const q = p.finally(() => (done = true));
  q.catch(() => undefined);
  await clock.runUntilTrue(() => done, 60_000);
  return q;
}

test('the in-memory transport delivers in order after the link latency, and closes like the real one', async () => {
  const clock = new VirtualClock(1_000_000);
  clock.install();
  try {
    const net = new SimNetwork(clock, { seed: 3 });
    const hosts = ['1.0.0.1', '2.0.0.1', '3.0.0.1', '4.0.0.1', '5.0.0.1', '6.0.0.1'];
    const transports = hosts.map((h) => net.transportFor(h));
    const accepted: SecureConnection[] = [];
    const serverOptions = hosts.map(() => options(7000));
    for (let i = 1; i < hosts.length; i++) {
      await transports[i]!.listen(hosts[i]!, 7000, serverOptions[i]!, { onConnection: (c) => accepted.push(c) });
    }
    const dialler = options(7000);
    const t0 = clock.now();
    const out = await until(clock, transports[0]!.dial(hosts[1]!, 7000, dialler));
    const lat = net.latency.oneWayMs(hosts[0]!, hosts[1]!);
    assert.equal(clock.now() - t0, 2 * lat, 'the dialler is done after one round trip');
    assert.equal(out.remoteId, serverOptions[1]!.identity.nodeIdHex);
    assert.equal(out.direction, 'outbound');
    await clock.runFor(lat);
    assert.equal(accepted.length, 1);
    const inb = accepted[0]!;
    assert.equal(inb.remoteId, dialler.identity.nodeIdHex);
    assert.equal(inb.direction, 'inbound');
    assert.equal(inb.remoteAddress, hosts[0]);
    assert.equal(inb.remoteHello.listenPort, 7000);

    const got: { value: bigint; at: number; bytes: number }[] = [];
    inb.on('message', (env: Envelope, bytes: number) => {
      if (env.kind.case === 'ping') got.push({ value: env.kind.value.value, at: clock.now(), bytes });
    });
    const sentAt = clock.now();
    for (let v = 1n; v <= 5n; v++) out.send(ping(v));
    await clock.runFor(lat + 1);
    assert.deepEqual(got.map((g) => g.value), [1n, 2n, 3n, 4n, 5n]);
    assert.ok(got.every((g) => g.at === sentAt + lat && g.bytes > 0));
    assert.equal(out.bytesWritten, inb.bytesRead);
    assert.ok(out.bytesWritten > 0);

    // A frame on a shorter link overtakes one sent earlier on a longer link.
    const byLatency = hosts.slice(1).sort((a, b) => net.latency.oneWayMs(hosts[0]!, a) - net.latency.oneWayMs(hosts[0]!, b));
    const near = byLatency[0]!;
    const far = byLatency[byLatency.length - 1]!;
    assert.ok(net.latency.oneWayMs(hosts[0]!, near) < net.latency.oneWayMs(hosts[0]!, far), 'the seeded layout has two different latencies');
    accepted.length = 0;
    const [toFar, toNear] = await until(clock, Promise.all([transports[0]!.dial(far, 7000, dialler), transports[0]!.dial(near, 7000, dialler)]));
    await clock.runFor(200);
    const farIn = accepted.find((c) => c instanceof SimConnection && c.localHost === far);
    const nearIn = accepted.find((c) => c instanceof SimConnection && c.localHost === near);
    assert.ok(farIn !== undefined && nearIn !== undefined);
    const arrivals: string[] = [];
    farIn.on('message', () => arrivals.push('far'));
    nearIn.on('message', () => arrivals.push('near'));
    toFar.send(ping(9n));
    await clock.runFor(1);
    toNear.send(ping(9n));
    await clock.runFor(200);
    assert.deepEqual(arrivals, ['near', 'far']);

    // close(): the local side hears remote=false at once, the far side the reason one latency later.
    const closes: { side: string; info: CloseInfo; at: number }[] = [];
    out.on('close', (info: CloseInfo) => closes.push({ side: 'out', info, at: clock.now() }));
    inb.on('close', (info: CloseInfo) => closes.push({ side: 'in', info, at: clock.now() }));
    const closedAt = clock.now();
    out.close(DisconnectReason.REQUESTED, 'bye');
    out.close(DisconnectReason.REQUESTED, 'twice');
    await clock.runFor(lat + 10);
    assert.equal(closes.length, 2, 'one close event per side');
    assert.deepEqual(closes[0], { side: 'out', info: { reason: DisconnectReason.REQUESTED, detail: 'bye', remote: false }, at: closedAt });
    assert.deepEqual(closes[1], { side: 'in', info: { reason: DisconnectReason.REQUESTED, detail: 'bye', remote: true }, at: closedAt + lat });
    assert.ok(out.closed && inb.closed);

    // A killed host: its peers see the connection end without a Disconnect; dials to it are refused.
    const farCloses: CloseInfo[] = [];
    toFar.on('close', (info: CloseInfo) => farCloses.push(info));
    net.kill(far);
    await clock.runFor(200);
    assert.equal(farCloses.length, 1);
    assert.equal(farCloses[0]!.remote, true);
    assert.equal(farCloses[0]!.reason, DisconnectReason.UNSPECIFIED);
    await assert.rejects(until(clock, transports[0]!.dial(far, 7000, dialler)), (err: Error & { kind?: string }) => err.kind === 'refused');

    // A partition drops frames silently and makes dials across it time out.
    net.setPartition((a, b) => (a === hosts[0]) !== (b === hosts[0]));
    const silent: bigint[] = [];
    nearIn.on('message', (env: Envelope) => env.kind.case === 'ping' && silent.push(env.kind.value.value));
    toNear.send(ping(11n));
    await clock.runFor(500);
    assert.deepEqual(silent, []);
    assert.equal(toNear.closed, false);
    const t1 = clock.now();
    await assert.rejects(until(clock, transports[0]!.dial(near, 7000, dialler)), (err: Error & { kind?: string }) => err.kind === 'timeout');
    assert.equal(clock.now() - t1, dialler.handshakeTimeoutMs);
  } finally {
    clock.uninstall();
  }
});

test('a simulated network of 30 real nodes bootstraps from seeds and delivers every broadcast to every node; a seed fixes the run', async () => {
  const options = { nodes: 30, seed: 5, lookups: 20, messages: 20, rate: 5, payloadBytes: 256, tuning: {} };
  const r = await broadcastScenario(options);
  assert.equal(r.connected, true, 'the session graph is connected');
  assert.equal(r.reachedTarget, 1, 'every node filled its outbound slots');
  assert.equal(r.delivered, 1, 'every message reached every node');
  assert.equal(r.deliveredCopies, 1);
  // Same seed: same node ids, latencies, peer choices and timings, so the
  // same behaviour. (Byte counts may differ by a few varint bytes: ping and
  // request nonces still come from the system's random source.)
  const behaviour = (x: Record<string, unknown>) =>
    Object.fromEntries(
      ['latencyP50Ms', 'latencyP99Ms', 'grafts', 'prunes', 'duplicatesPerMessage', 'announcementsPerNodeMessage', 'secondsToTargetPeersP99', 'diameterMs'].map((k) => [k, x[k]]),
    );
  const again = await broadcastScenario(options);
  assert.deepEqual(behaviour(again), behaviour(r));
  assert.ok(Math.abs(Number(again.gossipAmplification) - Number(r.gossipAmplification)) <= 0.01);
  const other = await broadcastScenario({ ...options, seed: 6 });
  assert.notDeepEqual(behaviour(other), behaviour(r), 'another seed, another network');
});
