/**
 * The API layer over a real loopback grpc-js server, with an in-memory
 * NodeApi: adapter, auth, validation, error mapping, streams, health and
 * reflection.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import { PheromonesError } from '../../src/errors.js';
import type { DirectMessage, NodeApi, NodeInfo, PeerEvent, PeerInfo, StoredMessage } from '../../src/node/types.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { ApiChannel, ApiError } from '../../src/api/client.js';
import { readCookie } from '../../src/api/auth.js';
import { reflect } from '../../src/api/reflection.js';
import { NodeService } from '../../src/gen/pheromones/admin/v1/node_pb.js';
import { PeerService, PeerEventType, PeerDirection } from '../../src/gen/pheromones/admin/v1/peer_pb.js';
import { MessageService } from '../../src/gen/pheromones/admin/v1/message_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../src/gen/grpc/health/v1/health_pb.js';
import { pollUntil } from '../helpers/daemon.js';

const ID_A = 'a'.repeat(64);

function peer(nodeId: string, address: string): PeerInfo {
  return {
    nodeId,
    address,
    listenAddress: address,
    direction: 'outbound',
    connectedSinceMs: 1_700_000_000_000,
    rttMs: -1,
    bytesIn: 10,
    bytesOut: 20,
    messagesIn: 1,
    messagesOut: 2,
    protocols: ['gossip/1'],
    userAgent: 'fake/0',
    persistent: false,
    traffic: [{ protocol: 'gossip', framesIn: 1, bytesIn: 6, framesOut: 2, bytesOut: 16 }],
  };
}

/** Just enough of a node, in memory. */
class FakeNode implements NodeApi {
  readonly nodeId = 'f'.repeat(64);
  ready = true;
  infoCalls = 0;
  peers = new Map<string, PeerInfo>();
  log: StoredMessage[] = [];
  messageListeners = new Set<(m: StoredMessage) => void>();
  directListeners = new Set<(m: DirectMessage) => void>();
  peerListeners = new Set<(e: PeerEvent) => void>();

  async info(): Promise<NodeInfo> {
    this.infoCalls++;
    return {
      nodeId: this.nodeId,
      version: '0.1.0',
      network: 'devnet',
      networkId: 7,
      listenAddress: '127.0.0.1:7000',
      observedAddresses: [],
      advertisedAddresses: [],
      grpcAddress: '127.0.0.1:0',
      startedAtMs: 1,
      uptimeMs: 2,
      peersInbound: 0,
      peersOutbound: this.peers.size,
      messageLogSize: this.log.length,
    };
  }
  async addPeer(address: string): Promise<PeerInfo> {
    if (address.endsWith(':9')) throw new PheromonesError('refused', `connection refused by ${address}`);
    const p = peer(ID_A, address);
    this.peers.set(p.nodeId, p);
    for (const l of this.peerListeners) l({ type: 'connected', peer: p });
    return p;
  }
  async removePeer(idOrAddress: string): Promise<PeerInfo> {
    const p = [...this.peers.values()].find((x) => x.nodeId === idOrAddress || x.address === idOrAddress);
    if (!p) throw new PheromonesError('not-found', `no connected peer ${idOrAddress}`);
    this.peers.delete(p.nodeId);
    for (const l of this.peerListeners) l({ type: 'disconnected', peer: p, reason: 'requested', detail: '' });
    return p;
  }
  listPeers(): PeerInfo[] {
    return [...this.peers.values()];
  }
  async broadcast(topic: string, payload: Uint8Array): Promise<StoredMessage> {
    return this.deliver(topic, payload);
  }
  deliver(topic: string, payload: Uint8Array): StoredMessage {
    const seq = BigInt(this.log.length + 1);
    const id = new Uint8Array(32);
    new DataView(id.buffer).setBigUint64(24, seq);
    const msg: StoredMessage = { seq, id, topic, origin: this.nodeId, hops: 0, timestampMs: 5, receivedAtMs: 6, payload };
    this.log.push(msg);
    for (const l of this.messageListeners) l(msg);
    return msg;
  }
  async sendToPeer(nodeId: string): Promise<void> {
    if (!this.peers.has(nodeId)) throw new PheromonesError('not-found', `peer ${nodeId} is not connected`);
  }
  async listMessages(afterSeq: bigint, limit: number, topic?: string): Promise<StoredMessage[]> {
    return this.log.filter((m) => m.seq > afterSeq && (topic === undefined || m.topic === topic)).slice(0, limit);
  }
  async getMessage(id: Uint8Array): Promise<StoredMessage | undefined> {
    return this.log.find((m) => Buffer.compare(Buffer.from(m.id), Buffer.from(id)) === 0);
  }
  onMessage(l: (m: StoredMessage) => void): () => void {
    this.messageListeners.add(l);
    return () => this.messageListeners.delete(l);
  }
  onDirect(l: (m: DirectMessage) => void): () => void {
    this.directListeners.add(l);
    return () => this.directListeners.delete(l);
  }
  onPeerEvent(l: (e: PeerEvent) => void): () => void {
    this.peerListeners.add(l);
    return () => this.peerListeners.delete(l);
  }
}

async function rejectsWith(p: Promise<unknown>, code: status, detail?: RegExp): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    assert.equal(err.codeName, status[code], `code for "${err.details}"`);
    if (detail) assert.match(err.details, detail);
    return err;
  }
  assert.fail(`expected ${status[code]}`);
}

describe('api server', () => {
  const node = new FakeNode();
  let dir: string;
  let server: ApiServer;
  let channel: ApiChannel;
  const channels: ApiChannel[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pheromones-api-'));
    server = await startApiServer({ node, address: '127.0.0.1:0', dataDir: dir, streamBuffer: 50 });
    channel = new ApiChannel({ address: server.address, token: server.token, timeoutMs: 5000 });
    channels.push(channel);
  });
  after(async () => {
    for (const c of channels) c.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the cookie holds the token, mode 0600', async () => {
    assert.equal(await readCookie(dir), server.token);
    assert.match(server.token, /^[0-9a-f]{64}$/);
    assert.equal((await stat(server.cookiePath)).mode & 0o777, 0o600);
  });

  test('GetInfo answers with the bound gRPC address', async () => {
    const info = await channel.service(NodeService).getInfo();
    assert.equal(info.nodeId, node.nodeId);
    assert.equal(info.grpcAddress, server.address);
    assert.equal(info.networkId, 7);
  });

  test('calls without the right token are refused before any handler runs', async () => {
    const before = node.infoCalls;
    const none = new ApiChannel({ address: server.address });
    const wrong = new ApiChannel({ address: server.address, token: '0'.repeat(64) });
    channels.push(none, wrong);
    await rejectsWith(none.service(NodeService).getInfo(), status.UNAUTHENTICATED, /missing token/);
    await rejectsWith(wrong.service(NodeService).getInfo(), status.UNAUTHENTICATED, /wrong token/);
    const stream = none.service(MessageService).subscribe({});
    await rejectsWith((async () => { for await (const _ of stream) void _; })(), status.UNAUTHENTICATED);
    assert.equal(node.infoCalls, before);
  });

  test('bad input is INVALID_ARGUMENT naming the field; unknown things are NOT_FOUND', async () => {
    const peers = channel.service(PeerService);
    const msgs = channel.service(MessageService);
    await rejectsWith(peers.addPeer({ address: 'nonsense' }), status.INVALID_ARGUMENT, /^address: /);
    await rejectsWith(peers.addPeer({ address: '' }), status.INVALID_ARGUMENT, /^address: required/);
    await rejectsWith(peers.addPeer({ address: '127.0.0.1:1', timeoutMs: 999_999 }), status.INVALID_ARGUMENT, /^timeout_ms/);
    await rejectsWith(peers.removePeer({ peer: '' }), status.INVALID_ARGUMENT, /^peer: /);
    await rejectsWith(peers.removePeer({ peer: 'b'.repeat(64) }), status.NOT_FOUND);
    await rejectsWith(msgs.getMessage({ id: 'xyz' }), status.INVALID_ARGUMENT, /^id: /);
    await rejectsWith(msgs.getMessage({ id: 'c'.repeat(64) }), status.NOT_FOUND);
    await rejectsWith(msgs.sendToPeer({ nodeId: 'd'.repeat(64), payload: new Uint8Array(1) }), status.NOT_FOUND);
    await rejectsWith(msgs.sendToPeer({ nodeId: 'short' }), status.INVALID_ARGUMENT, /^node_id: /);
    await rejectsWith(msgs.broadcast({ topic: 'x'.repeat(200) }), status.INVALID_ARGUMENT, /^topic: /);
    await rejectsWith(msgs.broadcast({ payload: new Uint8Array(1024 * 1024 + 1) }), status.INVALID_ARGUMENT, /^payload: /);
    await rejectsWith(msgs.listMessages({ limit: 5000 }), status.INVALID_ARGUMENT, /^limit: /);
  });

  test('node errors map to their status codes', async () => {
    await rejectsWith(channel.service(PeerService).addPeer({ address: '127.0.0.1:9' }), status.UNAVAILABLE, /refused/);
  });

  test('a malformed request body is INVALID_ARGUMENT, not INTERNAL', async () => {
    const raw = new Client(server.address, credentials.createInsecure());
    try {
      const err = await new Promise<{ code: number; details: string }>((resolve) => {
        const md = new Metadata();
        md.set('authorization', `Bearer ${server.token}`);
        raw.makeUnaryRequest(
          '/pheromones.admin.v1.PeerService/AddPeer',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0x0a, 0x7f, 0x01]), // field 1, length 127, 1 byte present
          md,
          (e) => resolve(e as unknown as { code: number; details: string }),
        );
      });
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /^request: /);
    } finally {
      raw.close();
    }
  });

  test('peers: add, list, remove, with events streamed', async () => {
    const svc = channel.service(PeerService);
    const ac = new AbortController();
    const events = svc.subscribePeerEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
    await pollUntil(() => node.peerListeners.size === 1, 5000, 'event subscription');
    const added = await svc.addPeer({ address: '127.0.0.1:7010', persistent: true });
    assert.equal(added.peer?.nodeId, ID_A);
    assert.equal(added.peer?.direction, PeerDirection.OUTBOUND);
    assert.equal(added.peer?.rttMs, -1n);
    const listed = (await svc.listPeers()).peers;
    assert.deepEqual(listed.map((p) => p.address), ['127.0.0.1:7010']);
    assert.deepEqual(
      listed[0]!.traffic.map((t) => [t.protocol, t.framesIn, t.bytesIn, t.framesOut, t.bytesOut]),
      [['gossip', 1n, 6n, 2n, 16n]],
    );
    const removed = await svc.removePeer({ peer: '127.0.0.1:7010' });
    assert.equal(removed.peer?.nodeId, ID_A);
    const first = await events.next();
    const second = await events.next();
    assert.equal(first.value?.type, PeerEventType.CONNECTED);
    assert.equal(second.value?.type, PeerEventType.DISCONNECTED);
    ac.abort();
    assert.equal((await events.next()).done, true);
    await pollUntil(() => node.peerListeners.size === 0, 5000, 'the server to unsubscribe after cancel');
  });

  test('Subscribe with replay: the log, then live, no gap and no duplicate', async () => {
    const msgs = channel.service(MessageService);
    const start = BigInt(node.log.length);
    for (let i = 0; i < 5; i++) node.deliver('t', Buffer.from(`old ${i}`));
    node.deliver('other', Buffer.from('skip me'));
    const ac = new AbortController();
    const it = msgs.subscribe({ topic: 't', replay: true, afterSeq: start + 2n }, { signal: ac.signal })[Symbol.asyncIterator]();
    const got: string[] = [];
    const seqs: bigint[] = [];
    const take = async (): Promise<void> => {
      const r = await it.next();
      assert.equal(r.done, false);
      assert.equal(r.value?.event.case, 'message');
      if (r.value?.event.case === 'message') {
        got.push(Buffer.from(r.value.event.value.payload).toString());
        seqs.push(r.value.event.value.seq);
      }
    };
    for (let i = 0; i < 3; i++) await take();
    await pollUntil(() => node.messageListeners.size === 1, 5000, 'live subscription');
    node.deliver('t', Buffer.from('new 0'));
    await msgs.broadcast({ topic: 't', payload: Buffer.from('new 1') });
    await take();
    await take();
    assert.deepEqual(got, ['old 2', 'old 3', 'old 4', 'new 0', 'new 1']);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => (a < b ? -1 : 1)));
    ac.abort();
    await pollUntil(() => node.messageListeners.size === 0, 5000, 'unsubscribe after cancel');
  });

  test('ListMessages pages by sequence and GetMessage finds by id', async () => {
    const msgs = channel.service(MessageService);
    const page1 = await msgs.listMessages({ limit: 2 });
    assert.deepEqual(page1.messages.map((m) => m.seq), [1n, 2n]);
    assert.equal(page1.nextAfterSeq, 2n);
    const page2 = await msgs.listMessages({ afterSeq: page1.nextAfterSeq, limit: 2 });
    assert.deepEqual(page2.messages.map((m) => m.seq), [3n, 4n]);
    const got = await msgs.getMessage({ id: page2.messages[0]!.id });
    assert.equal(got.message?.seq, 3n);
  });

  test('a slow reader is ended with RESOURCE_EXHAUSTED instead of buffering', async () => {
    const msgs = channel.service(MessageService);
    const ac = new AbortController();
    const it = msgs.subscribe({ topic: 'flood' }, { signal: ac.signal })[Symbol.asyncIterator]();
    await pollUntil(() => node.messageListeners.size === 1, 5000, 'subscription');
    node.deliver('flood', Buffer.alloc(10));
    assert.equal((await it.next()).done, false);
    const payload = Buffer.alloc(4096);
    let sent = 1;
    // The client does not read: flow control fills, then the server's bounded queue.
    await pollUntil(
      async () => {
        for (let i = 0; i < 200 && node.messageListeners.size > 0; i++, sent++) node.deliver('flood', payload);
        await new Promise((r) => setImmediate(r));
        return node.messageListeners.size === 0;
      },
      20_000,
      'the server to give up on the slow reader',
      1,
    );
    let received = 1;
    const err = await rejectsWith(
      (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          received++;
        }
      })(),
      status.RESOURCE_EXHAUSTED,
      /fell more than 50 events behind/,
    );
    assert.ok(err);
    assert.ok(received < sent, `received ${received} of ${sent}`);
  });

  test('health is open and follows readiness; unknown services are NOT_FOUND', async () => {
    const open = new ApiChannel({ address: server.address });
    channels.push(open);
    const health = open.service(Health);
    assert.equal((await health.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
    assert.equal((await health.check({ service: 'pheromones.admin.v1.MessageService' })).status, HealthCheckResponse_ServingStatus.SERVING);
    node.ready = false;
    try {
      assert.equal((await health.check({})).status, HealthCheckResponse_ServingStatus.NOT_SERVING);
      await rejectsWith(channel.service(NodeService).getInfo(), status.UNAVAILABLE, /not serving/);
    } finally {
      node.ready = true;
    }
    await rejectsWith(health.check({ service: 'nope.Service' }), status.NOT_FOUND);
    // Watch: the current status, then each change.
    const ac = new AbortController();
    const watch = health.watch({}, { signal: ac.signal })[Symbol.asyncIterator]();
    assert.equal((await watch.next()).value?.status, HealthCheckResponse_ServingStatus.SERVING);
    node.ready = false;
    try {
      assert.equal((await watch.next()).value?.status, HealthCheckResponse_ServingStatus.NOT_SERVING);
    } finally {
      node.ready = true;
      ac.abort();
    }
  });

  test('reflection lists the services and serves their descriptors (with the token)', async () => {
    const listed = await reflect(channel.grpcClient, channel.metadata(), { listServices: true });
    assert.deepEqual(listed.services.sort(), [
      'grpc.health.v1.Health',
      'pheromones.admin.v1.MessageService',
      'pheromones.admin.v1.NodeService',
      'pheromones.admin.v1.PeerService',
    ]);
    const file = await reflect(channel.grpcClient, channel.metadata(), { fileContainingSymbol: 'pheromones.admin.v1.PeerService' });
    assert.equal(file.files[0]?.name, 'pheromones/admin/v1/peer.proto');
    assert.ok(file.files[0]?.service.some((s) => s.method.some((m) => m.name === 'AddPeer')));
    await assert.rejects(reflect(channel.grpcClient, new Metadata(), { listServices: true }), /UNAUTHENTICATED|missing token/);
  });
});

describe('api server start and stop', () => {
  test('refuses a non-loopback address without TLS, saying why', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pheromones-api-'));
    try {
      await assert.rejects(
        startApiServer({ node: new FakeNode(), address: '0.0.0.0:0', dataDir: dir }),
        (err: PheromonesError) => err.kind === 'failed-precondition' && /--grpc-tls-cert and --grpc-tls-key/.test(err.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('stop ends open streams with UNAVAILABLE and removes the cookie', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pheromones-api-'));
    const node = new FakeNode();
    const server = await startApiServer({ node, address: '127.0.0.1:0', dataDir: dir });
    const channel = new ApiChannel({ address: server.address, token: server.token });
    try {
      const stream = channel.service(MessageService).subscribe({});
      const done = rejectsWith((async () => { for await (const _ of stream) void _; })(), status.UNAVAILABLE);
      await pollUntil(() => node.messageListeners.size === 1, 5000, 'subscription');
      await server.stop();
      await done;
      await assert.rejects(stat(server.cookiePath), { code: 'ENOENT' });
    } finally {
      channel.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
