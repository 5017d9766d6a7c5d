import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { EnvelopeSchema, GossipMessageSchema, type Envelope, type GossipMessage } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { Gossip } from '../../src/gossip/gossip.js';
import { computeMessageId } from '../../src/gossip/message-id.js';
import type { StoredMessage } from '../../src/node/types.js';
import type { Peer } from '../../src/peer/peer.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { MessageLog } from '../../src/store/message-log.js';

/** Just what Gossip uses of a Peer: an id and a send that records frames. */
function fakePeer(id: string): Peer & { frames: GossipMessage[] } {
  const frames: GossipMessage[] = [];
  const peer = {
    id,
    frames,
    remoteProtocols: new Map([['gossip', [1]]]),
    sendEncoded(body: Uint8Array): boolean {
      const env = fromBinary(EnvelopeSchema, body);
      if (env.kind.case === 'gossip') frames.push(env.kind.value);
      return true;
    },
  };
  return peer as unknown as Peer & { frames: GossipMessage[] };
}

function message(over: Partial<GossipMessage> = {}, payload = 'hi'): GossipMessage {
  const fields = {
    origin: new Uint8Array(32).fill(7),
    timestampMs: BigInt(Date.now()),
    nonce: 42n,
    topic: 'chat',
    payload: new TextEncoder().encode(payload),
  };
  const id = computeMessageId(fields);
  return create(GossipMessageSchema, { ...fields, id, ttl: 16, hops: 0, pathWeights: [], ...over });
}

function env(msg: GossipMessage): Envelope {
  return create(EnvelopeSchema, { kind: { case: 'gossip', value: msg } });
}

describe('Gossip protocol (flood mode)', () => {
  let dir = '';
  let db: Database;
  let counter = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pheromones-gossip-'));
  });
  after(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function setup(ttl = 16) {
    if (db !== undefined) await db.close();
    db = await openDatabase(join(dir, `db${counter++}`), dir);
    const log = await MessageLog.open(db);
    const gossip = new Gossip({
      mode: 'flood',
      localId: new Uint8Array(32).fill(1),
      ttl,
      maxFrameBytes: 1024 * 1024,
      seenCacheEntries: 1000,
      seenCacheTtlMs: 60_000,
      log,
      logger: pino({ level: 'silent' }),
    });
    const delivered: StoredMessage[] = [];
    gossip.onDeliver((m) => delivered.push(m));
    const peers = ['aa', 'bb', 'cc'].map((p) => fakePeer(p.repeat(32)));
    for (const p of peers) gossip.onOpen(p);
    return { gossip, delivered, peers, log };
  }

  it('delivers a new message once and relays it (ttl - 1, hops + 1) to every peer but its source', async () => {
    const { gossip, delivered, peers } = await setup();
    const [a, b, c] = peers as [ReturnType<typeof fakePeer>, ReturnType<typeof fakePeer>, ReturnType<typeof fakePeer>];
    const msg = message();
    await gossip.onMessage(a, env(msg));
    await gossip.onMessage(b, env(msg));
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]!.hops, 1);
    assert.equal(a.frames.length, 0);
    assert.equal(b.frames.length, 1);
    assert.equal(c.frames.length, 1);
    assert.equal(c.frames[0]!.ttl, 15);
    assert.equal(c.frames[0]!.hops, 1);
    assert.deepEqual(c.frames[0]!.id, msg.id);
    assert.equal(gossip.stats.duplicates, 1);
    assert.equal(gossip.stats.framesSent, 2);
  });

  it('delivers but does not relay a message that arrives with ttl 0, and caps an oversized ttl', async () => {
    const { gossip, delivered, peers } = await setup(4);
    await gossip.onMessage(peers[0]!, env(message({ ttl: 0 })));
    assert.equal(delivered.length, 1);
    assert.equal(peers[1]!.frames.length, 0);
    await gossip.onMessage(peers[0]!, env(message({ ttl: 1_000_000 }, 'other')));
    assert.equal(peers[1]!.frames[0]!.ttl, 3);
  });

  it('broadcast delivers locally with hops 0 and sends one frame per peer', async () => {
    const { gossip, delivered, peers } = await setup();
    const stored = await gossip.broadcast('chat', new TextEncoder().encode('mine'));
    assert.equal(stored.hops, 0);
    assert.equal(stored.seq, 1n);
    assert.deepEqual(delivered, [stored]);
    for (const p of peers) {
      assert.equal(p.frames.length, 1);
      assert.equal(p.frames[0]!.ttl, 16);
      assert.equal(p.frames[0]!.hops, 0);
    }
    // Our own message coming back is a duplicate.
    await gossip.onMessage(peers[0]!, env(peers[1]!.frames[0]!));
    assert.equal(delivered.length, 1);
  });

  it('rejects forged or malformed messages as protocol violations', async () => {
    const { gossip, delivered } = await setup();
    const p = fakePeer('dd'.repeat(32));
    gossip.onOpen(p);
    const bad: Partial<GossipMessage>[] = [
      { id: new Uint8Array(32) },
      { id: new Uint8Array(31) },
      { origin: new Uint8Array(33) },
      { topic: 'x'.repeat(257) },
      { hops: 0xffff },
    ];
    for (const over of bad) {
      assert.throws(() => gossip.onMessage(p, env(message(over))), { kind: 'protocol-violation' }, JSON.stringify(Object.keys(over)));
    }
    // A changed payload no longer matches the id.
    const m = message();
    m.payload = new TextEncoder().encode('tampered');
    assert.throws(() => gossip.onMessage(p, env(m)), { kind: 'protocol-violation' });
    assert.equal(delivered.length, 0);
  });

  it('drops messages older than the seen window instead of delivering them again', async () => {
    const { gossip, delivered, peers } = await setup();
    const fields = { origin: new Uint8Array(32).fill(9), timestampMs: BigInt(Date.now() - 120_000), nonce: 1n, topic: 't', payload: new Uint8Array() };
    const old = create(GossipMessageSchema, { ...fields, id: computeMessageId(fields), ttl: 5 });
    await gossip.onMessage(peers[0]!, env(old));
    assert.equal(delivered.length, 0);
    assert.equal(gossip.stats.stale, 1);
    assert.equal(peers[1]!.frames.length, 0);
  });

  it('stops sending to a peer once its session closes', async () => {
    const { gossip, peers } = await setup();
    gossip.onClose(peers[2]!);
    await gossip.broadcast('chat', new Uint8Array([1]));
    assert.equal(peers[2]!.frames.length, 0);
    assert.equal(peers[0]!.frames.length, 1);
  });
});
