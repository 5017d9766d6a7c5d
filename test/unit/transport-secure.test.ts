import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { DisconnectReason, EnvelopeSchema, type Envelope } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { generateIdentity, type NodeIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { acceptSecure, dialSecure, listenSecure, type CloseInfo, type SecureConnection, type SecureTransportOptions } from '../../src/transport/index.js';
import { runHandshake } from '../../src/transport/handshake-io.js';
import { CONTROL_QUEUE, DEFAULT_QUEUE } from '../../src/transport/types.js';

function options(identity: NodeIdentity, network = 'test'): SecureTransportOptions {
  return {
    identity,
    hello: { networkId: networkIdFor(network), protocolVersion: 1, listenPort: 0, protocols: [{ name: 'gossip', versions: [1] }], userAgent: 'pheromones/test' },
    handshakeTimeoutMs: 5_000,
    maxFrameBytes: 4 * 1024 * 1024,
  };
}

function direct(topic: string, payload: Uint8Array): Envelope {
  return create(EnvelopeSchema, { kind: { case: 'direct', value: { topic, payload } } });
}

function nextMessages(conn: SecureConnection, n: number): Promise<Envelope[]> {
  return new Promise((resolve, reject) => {
    const got: Envelope[] = [];
    const onMsg = (env: Envelope): void => {
      got.push(env);
      if (got.length === n) {
        conn.off('message', onMsg);
        resolve(got);
      }
    };
    conn.on('message', onMsg);
    conn.once('close', (info: CloseInfo) => reject(new Error(`closed before ${n} messages: ${info.detail}`)));
  });
}

test('handshake over loopback authenticates both node ids and carries messages both ways', async () => {
  const a = generateIdentity();
  const b = generateIdentity();
  let resolveServer!: (c: SecureConnection) => void;
  const serverConn = new Promise<SecureConnection>((r) => (resolveServer = r));
  const conns: SecureConnection[] = [];
  const listener = await listenSecure('127.0.0.1', 0, options(b), { onConnection: (c) => { conns.push(c); resolveServer(c); } });
  try {
    assert.notEqual(listener.port, 0);
    const client = await dialSecure('127.0.0.1', listener.port, options(a), { expectedNodeId: b.nodeIdHex });
    conns.push(client);
    const server = await serverConn;
    assert.equal(client.remoteId, b.nodeIdHex);
    assert.equal(server.remoteId, a.nodeIdHex);
    assert.equal(client.direction, 'outbound');
    assert.equal(server.direction, 'inbound');
    assert.equal(server.remoteHello.userAgent, 'pheromones/test');
    assert.deepEqual(server.remoteHello.protocols.map((p) => p.name), ['gossip']);

    const toServer = nextMessages(server, 3);
    // Both queued in the same turn: the control queue overtakes the frame queued before it.
    client.send(direct('t', Buffer.from('one')));
    client.send(create(EnvelopeSchema, { kind: { case: 'ping', value: { value: 42n } } }), CONTROL_QUEUE);
    setImmediate(() => client.send(direct('t', Buffer.alloc(200_000, 7))));
    const got = await toServer;
    assert.equal(got[0]!.kind.case, 'ping');
    assert.equal(got[1]!.kind.case === 'direct' && Buffer.from(got[1]!.kind.value.payload).toString(), 'one');
    assert.equal(got[2]!.kind.case === 'direct' && got[2]!.kind.value.payload.length, 200_000);

    const toClient = nextMessages(client, 1000);
    const body = Buffer.from('x'.repeat(1000));
    const writtenBefore = server.bytesWritten;
    let bodyBytes = 0;
    for (let i = 0; i < 1000; i++) {
      const env = direct(`m${i}`, body);
      bodyBytes += toBinary(EnvelopeSchema, env).length;
      server.send(env);
    }
    const back = await toClient;
    // Queued in one turn, the bodies are coalesced into ~16 records of 64 KiB, not 1000.
    const overhead = server.bytesWritten - writtenBefore - bodyBytes - 4 * 1000;
    assert.ok(overhead >= 20 && overhead <= 20 * 32, `record overhead ${overhead} bytes`);
    assert.deepEqual(back.map((e) => (e.kind.case === 'direct' ? e.kind.value.topic : '')), Array.from({ length: 1000 }, (_, i) => `m${i}`));

    const closed = once(server, 'close') as Promise<[CloseInfo]>;
    const clientClosed = once(client, 'close') as Promise<[CloseInfo]>;
    client.close(DisconnectReason.REQUESTED, 'bye');
    const [info] = await closed;
    assert.equal(info.reason, DisconnectReason.REQUESTED);
    assert.equal(info.detail, 'bye');
    assert.equal(info.remote, true);
    const [own] = await clientClosed;
    assert.equal(own.remote, false);
    assert.equal(client.closed, true);
    assert.ok(client.bytesWritten > 200_000);
    assert.ok(server.bytesRead > 200_000);
  } finally {
    for (const c of conns) c.close(DisconnectReason.REQUESTED);
    await listener.close();
  }
});

test('protocols share a session: small frames are not stuck behind megabytes queued before them on another queue', async () => {
  let resolveServer!: (c: SecureConnection) => void;
  const serverConn = new Promise<SecureConnection>((r) => (resolveServer = r));
  const listener = await listenSecure('127.0.0.1', 0, options(generateIdentity()), { onConnection: (c) => resolveServer(c) });
  const client = await dialSecure('127.0.0.1', listener.port, options(generateIdentity()));
  const server = await serverConn;
  try {
    const BIG = 6;
    const SMALL = 50;
    const all = nextMessages(server, BIG + SMALL);
    const big = toBinary(EnvelopeSchema, direct('big', Buffer.alloc(3 * 1024 * 1024, 1)));
    const small = toBinary(EnvelopeSchema, direct('small', Buffer.alloc(500, 2)));
    for (let i = 0; i < BIG; i++) client.sendEncoded(big, 'chain');
    for (let i = 0; i < SMALL; i++) client.sendEncoded(small, 'gossip');
    const order = (await all).map((e) => (e.kind.case === 'direct' ? e.kind.value.topic : ''));
    // 18 MiB of chain frames were queued first; the gossip frames still get through before all of it.
    assert.ok(order.indexOf('small') < order.lastIndexOf('big'), `arrival order: ${order.join(' ')}`);
    assert.equal(order.filter((t) => t === 'small').length, SMALL);
    const sent = Object.fromEntries(client.sentByQueue().map((q) => [q.queue, [q.frames, q.bytes]]));
    assert.deepEqual(sent.chain, [BIG, BIG * big.length]);
    assert.deepEqual(sent.gossip, [SMALL, SMALL * small.length]);
    assert.equal(sent[DEFAULT_QUEUE], undefined);
  } finally {
    client.close(DisconnectReason.REQUESTED);
    server.close(DisconnectReason.REQUESTED);
    await listener.close();
  }
});

test('dialing a closed port is refused with the address in the message', async () => {
  const listener = await listenSecure('127.0.0.1', 0, options(generateIdentity()), { onConnection: () => undefined });
  const port = listener.port;
  await listener.close();
  await assert.rejects(dialSecure('127.0.0.1', port, options(generateIdentity())), (err: Error & { kind?: string }) => {
    assert.equal(err.kind, 'refused');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
});

test("'drain' fires once a send queue held up by a stalled reader has gone out", async () => {
  let resolveServer!: (c: SecureConnection) => void;
  const serverConn = new Promise<SecureConnection>((r) => (resolveServer = r));
  const listener = await listenSecure('127.0.0.1', 0, options(generateIdentity()), { onConnection: (c) => resolveServer(c) });
  // A relay that can stop reading from the client, so the client's queue backs up.
  let fromClient: Socket | undefined;
  const relaySockets: Socket[] = [];
  const relay = createServer((c) => {
    fromClient = c;
    const up = connect(listener.port, '127.0.0.1');
    relaySockets.push(c, up);
    c.pipe(up);
    up.pipe(c);
    c.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const client = await dialSecure('127.0.0.1', (relay.address() as { port: number }).port, options(generateIdentity()));
  const server = await serverConn;
  try {
    const COUNT = 256;
    let got = 0;
    const all = new Promise<void>((r) => server.on('message', () => ++got === COUNT && r()));
    fromClient!.pause();
    const body = toBinary(EnvelopeSchema, direct('bulk', Buffer.alloc(64 * 1024, 5)));
    for (let i = 0; i < COUNT; i++) client.sendEncoded(body);
    assert.ok(client.queuedBytes >= 1024 * 1024, `queued ${client.queuedBytes}`);
    const drained = once(client, 'drain');
    fromClient!.resume();
    await drained;
    assert.ok(client.queuedBytes < 1024 * 1024);
    await all;
    assert.throws(() => client.sendEncoded(new Uint8Array(4 * 1024 * 1024 + 1)), (e: Error & { kind?: string }) => e.kind === 'invalid-argument');
  } finally {
    client.close(DisconnectReason.REQUESTED);
    server.close(DisconnectReason.REQUESTED);
    for (const sock of relaySockets) sock.destroy();
    relay.close();
    await listener.close();
  }
});

// Both tests close each connection in the same turn its handshake completes, before the
// connection's first setImmediate has resumed the socket. Nothing else keeps the event loop
// alive, so a socket left paused (cut off only by the unref'd 2 s destroy timer) would leave
// the awaited promises pending and node:test would fail the test.
test('a connection closed right after its handshake ends promptly on both sides', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const clientSock = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(clientSock, 'connect');
  const [serverSock] = await accepted;
  server.close();
  const bothClosed = Promise.all([once(clientSock, 'close'), once(serverSock, 'close')]);
  const infos: CloseInfo[] = [];
  const closeAtOnce = (c: SecureConnection): void => {
    c.once('close', (info: CloseInfo) => infos.push(info));
    c.close(DisconnectReason.REQUESTED, 'done');
  };
  await Promise.all([
    runHandshake(clientSock, 'outbound', options(generateIdentity()), Date.now() + 5_000).then(closeAtOnce),
    acceptSecure(serverSock, options(generateIdentity())).then(closeAtOnce),
  ]);
  await bothClosed;
  assert.equal(infos.length, 2);
  assert.ok(infos.every((i) => !i.remote && i.reason === DisconnectReason.REQUESTED));
  assert.ok(clientSock.destroyed && serverSock.destroyed);
});

test("a listener whose connections were closed at once closes, and so does the dialer's side", async () => {
  const COUNT = 3;
  const serverClosed: Promise<unknown>[] = [];
  let allAccepted!: () => void;
  const accepted = new Promise<void>((r) => (allAccepted = r));
  const listener = await listenSecure('127.0.0.1', 0, options(generateIdentity()), {
    onConnection: (c) => {
      serverClosed.push(once(c, 'close'));
      c.close(DisconnectReason.REQUESTED);
      if (serverClosed.length === COUNT) allAccepted();
    },
  });
  const clients: SecureConnection[] = [];
  for (let i = 0; i < COUNT; i++) {
    const c = await dialSecure('127.0.0.1', listener.port, options(generateIdentity()));
    c.close(DisconnectReason.REQUESTED);
    clients.push(c);
  }
  await accepted;
  await listener.close();
  await Promise.all(serverClosed);
  assert.ok(clients.every((c) => c.closed));
});
