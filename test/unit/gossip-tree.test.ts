import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary } from '@bufbuild/protobuf';
import { pino } from 'pino';
import {
  EnvelopeSchema,
  GossipGraftSchema,
  GossipIHaveSchema,
  GossipMessageSchema,
  GossipPruneHintSchema,
  GossipPruneSchema,
  GossipTreeSchema,
  type Envelope,
  type GossipMessage,
} from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { Gossip, type GossipMode } from '../../src/gossip/gossip.js';
import { linkWeight } from '../../src/gossip/link-weight.js';
import { computeMessageId } from '../../src/gossip/message-id.js';
import type { StoredMessage } from '../../src/node/types.js';
import type { Peer } from '../../src/peer/peer.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { MessageLog } from '../../src/store/message-log.js';

type Sent = Envelope['kind'];

interface FakePeer extends Peer {
  sent: Sent[];
  /** Resolves with the first frame (already sent or to come) matching `match`. */
  next(match: (k: Sent) => boolean, ms?: number): Promise<Sent>;
}

/** Just what Gossip uses of a Peer: an id, the advertised versions and a send that records frames. */
function fakePeer(id: string, gossipVersions: number[] = [4, 3, 2, 1], rttMs = -1): FakePeer {
  const sent: Sent[] = [];
  const waiters: { match: (k: Sent) => boolean; resolve: (k: Sent) => void }[] = [];
  const peer = {
    id,
    sent,
    rttMs,
    remoteProtocols: new Map([['gossip', gossipVersions]]),
    sendEncoded(body: Uint8Array): boolean {
      const kind = fromBinary(EnvelopeSchema, body).kind;
      sent.push(kind);
      for (const w of [...waiters]) {
        if (w.match(kind)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(kind);
        }
      }
      return true;
    },
    next(match: (k: Sent) => boolean, ms = 5_000): Promise<Sent> {
      const found = sent.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame to ${id.slice(0, 4)} within ${ms} ms`)), ms);
        waiters.push({ match, resolve: (k) => (clearTimeout(timer), resolve(k)) });
      });
    },
  };
  return peer as unknown as FakePeer;
}

const payloads = (p: FakePeer): GossipMessage[] => p.sent.flatMap((k) => (k.case === 'gossip' ? [k.value] : []));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** An id as announcements and grafts name it to a gossip/4 peer: its first 8 bytes. */
const short = (id: Uint8Array): string => hex(id.subarray(0, 8));
/** The ids an announcement or graft names, full or as prefixes, each as its 8-byte prefix in hex. */
function idsIn(v: { ids: Uint8Array[]; idPrefixes: Uint8Array }): string[] {
  const out = v.ids.map(short);
  for (let at = 0; at < v.idPrefixes.length; at += 8) out.push(hex(v.idPrefixes.subarray(at, at + 8)));
  return out;
}
const announced = (p: FakePeer): string[] => p.sent.flatMap((k) => (k.case === 'gossipIhave' ? idsIn(k.value) : []));

let nonce = 0n;
function message(payload = 'hi', over: Partial<GossipMessage> = {}): GossipMessage {
  const fields = { origin: new Uint8Array(32).fill(7), timestampMs: BigInt(Date.now()), nonce: nonce++, topic: 'chat', payload: new TextEncoder().encode(payload) };
  return create(GossipMessageSchema, { ...fields, id: computeMessageId(fields), ttl: 16, hops: 0, pathWeights: [], ...over });
}

const gossipEnv = (msg: GossipMessage): Envelope => create(EnvelopeSchema, { kind: { case: 'gossip', value: msg } });
const prefixes = (ids: Uint8Array[]): Uint8Array => Buffer.concat(ids.map((id) => id.subarray(0, 8)));
/** As a gossip/4 peer sends them: by id prefixes. */
const ihave = (...ids: Uint8Array[]): Envelope =>
  create(EnvelopeSchema, { kind: { case: 'gossipIhave', value: create(GossipIHaveSchema, { idPrefixes: prefixes(ids) }) } });
const graft = (...ids: Uint8Array[]): Envelope =>
  create(EnvelopeSchema, { kind: { case: 'gossipGraft', value: create(GossipGraftSchema, { idPrefixes: prefixes(ids) }) } });
/** As a gossip/2 or /3 peer sends them: by full ids. */
const ihaveFull = (...ids: Uint8Array[]): Envelope => create(EnvelopeSchema, { kind: { case: 'gossipIhave', value: create(GossipIHaveSchema, { ids }) } });
const graftFull = (...ids: Uint8Array[]): Envelope => create(EnvelopeSchema, { kind: { case: 'gossipGraft', value: create(GossipGraftSchema, { ids }) } });
const prune = (): Envelope => create(EnvelopeSchema, { kind: { case: 'gossipPrune', value: create(GossipPruneSchema) } });
const treeAdvert = (root: Uint8Array, seq: bigint, distanceMs: number, parent = false): Envelope =>
  create(EnvelopeSchema, { kind: { case: 'gossipTree', value: create(GossipTreeSchema, { root, seq, distanceMs, parent }) } });

describe('Gossip tree mode (Plumtree)', () => {
  let dir = '';
  const dbs: Database[] = [];
  const all: Gossip[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pheromones-gossip-tree-'));
  });
  after(async () => {
    for (const g of all) g.close();
    for (const db of dbs) await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  interface SetupOptions {
    names?: string[];
    ihaveFlushMs?: number;
    mode?: GossipMode;
    rtts?: number[];
    /** Gossip versions the fake peers advertise. */
    versions?: number[];
  }

  async function setup({ names = ['aa', 'bb', 'cc'], ihaveFlushMs = 2, mode = 'tree', rtts = [], versions = [4, 3, 2, 1] }: SetupOptions = {}) {
    const db = await openDatabase(join(dir, `db${dbs.length}`), dir);
    dbs.push(db);
    const gossip = new Gossip({
      mode,
      localId: new Uint8Array(32).fill(1),
      ttl: 16,
      maxFrameBytes: 1024 * 1024,
      seenCacheEntries: 1000,
      seenCacheTtlMs: 60_000,
      log: await MessageLog.open(db),
      logger: pino({ level: 'silent' }),
      ihaveFlushMs,
      graftTimeoutMs: 20,
      graftRetryMs: 10,
    });
    all.push(gossip);
    const delivered: StoredMessage[] = [];
    gossip.onDeliver((m) => delivered.push(m));
    const peers = names.map((p, i) => fakePeer(p.repeat(32), versions, rtts[i]));
    for (const p of peers) gossip.onOpen(p);
    return { gossip, delivered, peers: peers as [FakePeer, FakePeer, FakePeer] };
  }

  it('advertises gossip/5 down to gossip/1 in tree mode, only gossip/1 when flooding', async () => {
    const { gossip } = await setup();
    assert.deepEqual(gossip.versions, [5, 4, 3, 2, 1]);
    assert.equal(gossip.mode, 'tree');
  });

  it('a duplicate prunes its link: the peer is told, and later messages are only announced to it, batched', async () => {
    // Ids due within half a flush period of each other share a frame; on a
    // loaded machine two relays of one tick can be milliseconds apart, so the
    // period here is long enough to cover that.
    const { gossip, delivered, peers } = await setup({ ihaveFlushMs: 40 });
    const [a, b, c] = peers;
    const m1 = message('one');
    await gossip.onMessage(a, gossipEnv(m1));
    // Every link starts in the tree.
    assert.equal(payloads(b).length, 1);
    assert.equal(payloads(c).length, 1);
    await gossip.onMessage(b, gossipEnv(m1));
    assert.equal(delivered.length, 1);
    assert.ok(b.sent.some((k) => k.case === 'gossipPrune'), 'the duplicate link is pruned');
    assert.equal(gossip.peerCounters(b.id)?.eager, false);
    assert.equal(gossip.peerCounters(b.id)?.duplicates, 1);
    assert.equal(gossip.peerCounters(a.id)?.eager, true);

    const m2 = message('two');
    const m3 = message('three');
    // Relayed in the same tick (the relay happens before the log write is awaited).
    await Promise.all([gossip.onMessage(a, gossipEnv(m2)), gossip.onMessage(a, gossipEnv(m3))]);
    assert.equal(payloads(b).length, 1, 'no more full copies to the pruned link');
    assert.equal(payloads(c).length, 3);
    await b.next((k) => k.case === 'gossipIhave');
    const frames = b.sent.filter((k) => k.case === 'gossipIhave');
    assert.equal(frames.length, 1, 'both ids in one announcement');
    assert.deepEqual(announced(b), [short(m2.id), short(m3.id)]);
    assert.equal(gossip.stats.ihaveSent, 2);
    assert.deepEqual(
      gossip.topicCounters().find((t) => t.topic === 'chat'),
      { topic: 'chat', payloadsReceived: 3, duplicates: 1, payloadsSent: 4, ihaveSent: 2, delivered: 3 },
    );
  });

  it('a duplicate prunes its link only when that link is the heaviest of the cycle it shows', async () => {
    // a and c are near (10 ms), b is far (200 ms).
    const { gossip, peers } = await setup({ rtts: [10, 200, 10] });
    const [a, b, c] = peers;
    const m = message('cycle');
    await gossip.onMessage(a, gossipEnv(m));
    // c's copy came over a 500 ms link somewhere on its path: that link, not ours to c, is the one to cut.
    await gossip.onMessage(c, gossipEnv({ ...m, pathWeights: [linkWeight(500, 0)] }));
    assert.ok(!c.sent.some((k) => k.case === 'gossipPrune'), 'a light link stays in the tree');
    assert.equal(gossip.peerCounters(c.id)?.eager, true);
    // b's copy came over light links only: our 200 ms link to b is the cycle's heaviest.
    await gossip.onMessage(b, gossipEnv({ ...m, pathWeights: [linkWeight(10, 0)] }));
    assert.ok(b.sent.some((k) => k.case === 'gossipPrune'));
    assert.equal(gossip.peerCounters(b.id)?.eager, false);
    assert.equal(gossip.peerCounters(a.id)?.eager, true);
    assert.equal(gossip.stats.duplicates, 2);
  });

  it('when the heaviest link of the cycle is on the first copy\'s path, prunes it there: here, or by a hint up the path', async () => {
    const { gossip, peers } = await setup({ rtts: [10, 200, 10] });
    const [a, b, c] = peers;
    // The first copy came over the far link to b; a light copy from a shows b's link is the cycle's heaviest.
    const m1 = message('far first');
    await gossip.onMessage(b, gossipEnv(m1));
    await gossip.onMessage(a, gossipEnv({ ...m1, pathWeights: [linkWeight(10, 0)] }));
    assert.equal(gossip.peerCounters(b.id)?.eager, false, 'our own first link is pruned');
    assert.equal(gossip.peerCounters(a.id)?.eager, true);

    // The first copy's path holds a 500 ms link further up: the hint goes to a, where the copy came from.
    const heavy = linkWeight(500, 0);
    const m2 = message('heavy upstream');
    await gossip.onMessage(a, gossipEnv({ ...m2, pathWeights: [heavy] }));
    await gossip.onMessage(c, gossipEnv({ ...m2, pathWeights: [linkWeight(10, 0)] }));
    const hints = (p: FakePeer) => p.sent.flatMap((k) => (k.case === 'gossipPruneHint' ? [k.value] : []));
    assert.deepEqual(hints(a).map((h) => [hex(h.id), h.weight]), [[hex(m2.id), heavy]]);
    assert.equal(gossip.peerCounters(a.id)?.eager, true, 'a is not the heavy link');
    assert.equal(gossip.peerCounters(c.id)?.eager, true);
    assert.equal(gossip.stats.pruneHintsSent, 1);

    // A hint from below naming the link our copy came on prunes it.
    const hint = (id: Uint8Array, weight: number): Envelope =>
      create(EnvelopeSchema, { kind: { case: 'gossipPruneHint', value: create(GossipPruneHintSchema, { id, weight }) } });
    const m3 = message('hinted');
    await gossip.onMessage(a, gossipEnv(m3));
    const aWeight = payloads(c).find((p) => hex(p.id) === hex(m3.id))!.pathWeights[0]!;
    await gossip.onMessage(c, hint(m3.id, aWeight));
    assert.equal(gossip.peerCounters(a.id)?.eager, false);
    assert.ok(a.sent.some((k) => k.case === 'gossipPrune'));
    // Unknown messages and weights not on the path go nowhere; a gossip/2 peer may not send hints.
    await gossip.onMessage(c, hint(message('unknown').id, aWeight));
    assert.equal(gossip.stats.pruneHintsSent, 1);
  });

  it('a copy pushed on a link that is lazy at our end is counted and leaves the link lazy', async () => {
    const { gossip, peers } = await setup();
    const [a, b] = peers;
    await gossip.onMessage(b, prune());
    const m = message('one-sided');
    await gossip.onMessage(a, gossipEnv(m));
    await gossip.onMessage(b, gossipEnv(m));
    assert.ok(!b.sent.some((k) => k.case === 'gossipPrune'));
    assert.equal(gossip.stats.duplicatesOnLazy, 1);
    assert.equal(gossip.peerCounters(b.id)?.eager, false);
  });

  it('gossip/5: tells each peer its place in the rooted tree, follows a lower root through the peer offering it, and opens later links only announcing', async () => {
    const v5 = [5, 4, 3, 2, 1];
    const { gossip, peers } = await setup({ versions: v5, rtts: [30, 30, 30] });
    const [a, b] = peers;
    const own = await a.next((k) => k.case === 'gossipTree');
    assert.ok(own.case === 'gossipTree');
    assert.equal(hex(own.value.root), '01'.repeat(32), 'alone, a node is its own root');
    assert.equal(own.value.distanceMs, 0);
    assert.equal(own.value.parent, false);

    const lower = new Uint8Array(32);
    await gossip.onMessage(a, treeAdvert(lower, 5n, 40));
    const toA = await a.next((k) => k.case === 'gossipTree' && k.value.parent);
    assert.ok(toA.case === 'gossipTree');
    assert.equal(hex(toA.value.root), '00'.repeat(32));
    assert.equal(toA.value.distanceMs, 70, "the parent's distance plus the link's round trip");
    assert.equal(toA.value.seq, 5n, "the stamp of the parent's path");
    const toB = await b.next((k) => k.case === 'gossipTree' && hex(k.value.root) === '00'.repeat(32));
    assert.ok(toB.case === 'gossipTree');
    assert.equal(toB.value.parent, false);
    assert.deepEqual(gossip.treeState(), { root: '00'.repeat(32), seq: 5, distanceMs: 70, parent: a.id, rootChanges: 1, parentChanges: 1 });

    // With a tree link, a new link starts outside the tree: it is only announced to.
    const d = fakePeer('dd'.repeat(32), v5, 30);
    gossip.onOpen(d);
    assert.equal(gossip.peerCounters(d.id)?.eager, false);
    assert.equal(gossip.peerCounters(a.id)?.eager, true);
    const m = message('rooted');
    await gossip.onMessage(a, gossipEnv(m));
    await d.next((k) => k.case === 'gossipIhave');
    assert.equal(payloads(d).length, 0);
    assert.deepEqual(announced(d), [short(m.id)]);
    // b is still pushed to for a beacon period; a gossip/5 peer gets the message without its id.
    assert.equal(payloads(b).length, 1);
    assert.equal(payloads(b)[0]!.id.length, 0);
  });

  it('gossip/5: a message without its id is taken from a gossip/5 peer (the id is its hash) and refused from older ones', async () => {
    const { gossip, delivered, peers } = await setup({ versions: [5, 4, 3, 2, 1] });
    const old = fakePeer('ee'.repeat(32), [4, 3, 2, 1]);
    gossip.onOpen(old);
    const m = message('bare');
    const id = m.id;
    await gossip.onMessage(peers[0], gossipEnv({ ...m, id: new Uint8Array(0) }));
    assert.equal(delivered.length, 1);
    assert.equal(hex(delivered[0]!.id), hex(id));
    assert.equal(hex(payloads(old)[0]!.id), hex(id), 'relayed with its id to the gossip/4 peer');
    assert.throws(() => gossip.onMessage(old, gossipEnv({ ...message('old'), id: new Uint8Array(0) })), { kind: 'protocol-violation' });
  });

  it('gossip/5: tree adverts are refused from gossip/4 sessions and with a malformed root', async () => {
    const { gossip, peers } = await setup({ versions: [5, 4, 3, 2, 1] });
    const old = fakePeer('ee'.repeat(32), [4, 3, 2, 1]);
    gossip.onOpen(old);
    assert.throws(() => gossip.onMessage(old, treeAdvert(new Uint8Array(32), 1n, 0)), { kind: 'protocol-violation' });
    assert.throws(() => gossip.onMessage(peers[0], treeAdvert(new Uint8Array(31), 1n, 0)), { kind: 'protocol-violation' });
    assert.throws(() => gossip.onMessage(peers[0], treeAdvert(new Uint8Array(32), 2n ** 60n, 0)), { kind: 'protocol-violation' });
    assert.equal(gossip.treeState()?.root, '01'.repeat(32), 'nothing refused was taken up');
  });

  it('takes prune hints only from gossip/3 peers', async () => {
    const { gossip, peers } = await setup({ names: ['aa'] });
    const old = fakePeer('ee'.repeat(32), [2, 1]);
    gossip.onOpen(old);
    const m = message('x');
    await gossip.onMessage(peers[0], gossipEnv(m));
    const env = create(EnvelopeSchema, { kind: { case: 'gossipPruneHint', value: create(GossipPruneHintSchema, { id: m.id, weight: 1 }) } });
    assert.throws(() => gossip.onMessage(old, env), { kind: 'protocol-violation' });
  });

  it('relays a message with its path weights, the link it came on added', async () => {
    const { gossip, peers } = await setup({ rtts: [10, 200, 10] });
    const [a, b] = peers;
    const heavy = linkWeight(500, 0);
    await gossip.onMessage(a, gossipEnv(message('path', { pathWeights: [heavy] })));
    const sent = payloads(b)[0]!;
    assert.equal(sent.pathWeights.length, 2);
    assert.equal(sent.pathWeights[0], heavy, 'heaviest first');
    assert.ok(sent.pathWeights[1]! < heavy);
    assert.throws(() => gossip.onMessage(a, gossipEnv(message('long', { pathWeights: Array.from({ length: 9 }, () => 1) }))), {
      kind: 'protocol-violation',
    });
  });

  it('a prune from a peer stops full copies to it; a graft takes it back', async () => {
    const { gossip, peers } = await setup();
    const [a, b] = peers;
    await gossip.onMessage(b, prune());
    const m1 = message('p1');
    await gossip.onMessage(a, gossipEnv(m1));
    assert.equal(payloads(b).length, 0);
    await b.next((k) => k.case === 'gossipIhave');
    // b heard the id but not the message: it grafts, and gets the relayed copy.
    await gossip.onMessage(b, graft(m1.id));
    assert.equal(payloads(b).length, 1);
    assert.deepEqual(payloads(b)[0]!.id, m1.id);
    assert.equal(payloads(b)[0]!.hops, 1);
    const m2 = message('p2');
    await gossip.onMessage(a, gossipEnv(m2));
    assert.equal(payloads(b).length, 2, 'the grafted link is in the tree again');
    assert.equal(gossip.stats.graftsReceived, 1);
  });

  it('an announced message that does not arrive is grafted from the announcer, then delivered once', async () => {
    const { gossip, delivered, peers } = await setup();
    const [a, b] = peers;
    const m = message('lost');
    await gossip.onMessage(b, prune());
    await gossip.onMessage(b, ihave(m.id));
    const g = await b.next((k) => k.case === 'gossipGraft');
    assert.equal(g.case, 'gossipGraft');
    assert.deepEqual(idsIn(g.value), [short(m.id)]);
    assert.equal(gossip.peerCounters(b.id)?.eager, true, 'the link we graft from joins the tree');
    await gossip.onMessage(b, gossipEnv(m));
    // The eager copy arriving late is a duplicate.
    await gossip.onMessage(a, gossipEnv(m));
    assert.equal(delivered.length, 1);
    assert.equal(gossip.stats.recovered, 1);
    assert.equal(gossip.stats.duplicates, 1);
  });

  it('a message that arrives before the graft timeout is not grafted', async () => {
    const { gossip, peers } = await setup();
    const [a, b, c] = peers;
    const m = message('in time');
    await gossip.onMessage(c, prune());
    await gossip.onMessage(b, ihave(m.id));
    await gossip.onMessage(c, ihave(m.id));
    await gossip.onMessage(a, gossipEnv(m));
    // A later graft-worthy id proves the timer ran: only that one is grafted.
    const other = message('other');
    await gossip.onMessage(b, ihave(other.id));
    const g = await b.next((k) => k.case === 'gossipGraft');
    assert.equal(g.case, 'gossipGraft');
    assert.deepEqual(idsIn(g.value), [short(other.id)]);
    assert.equal(b.sent.filter((k) => k.case === 'gossipGraft').length, 1);
    assert.ok(!announced(c).includes(short(m.id)), 'no announcement to a peer that announced the id');
    assert.equal(payloads(c).length, 0);
  });

  it('leaves out of an announcement an id the peer announced to us meanwhile', async () => {
    const { gossip, peers } = await setup({ ihaveFlushMs: 100 });
    const [a, , c] = peers;
    await gossip.onMessage(c, prune());
    const m1 = message('heard of');
    const relayed = gossip.onMessage(a, gossipEnv(m1));
    // c got m1 elsewhere and says so before our announcement is due.
    await gossip.onMessage(c, ihave(m1.id));
    await relayed;
    const m2 = message('not heard of');
    await gossip.onMessage(a, gossipEnv(m2));
    await c.next((k) => k.case === 'gossipIhave' && idsIn(k.value).includes(short(m2.id)));
    assert.ok(!announced(c).includes(short(m1.id)));
    assert.equal(gossip.stats.ihaveSent, 1);
  });

  it('asks the next announcer when the first one left', async () => {
    const { gossip, delivered, peers } = await setup();
    const [, b, c] = peers;
    const m = message('second source');
    await gossip.onMessage(b, ihave(m.id));
    await gossip.onMessage(c, ihave(m.id));
    gossip.onClose(b);
    await c.next((k) => k.case === 'gossipGraft');
    assert.equal(b.sent.filter((k) => k.case === 'gossipGraft').length, 0);
    await gossip.onMessage(c, gossipEnv(m));
    assert.equal(delivered.length, 1);
  });

  it('retries with the next announcer when a graft brings nothing', async () => {
    const { gossip, peers } = await setup();
    const [, b, c] = peers;
    const m = message('retry');
    await gossip.onMessage(b, ihave(m.id));
    await gossip.onMessage(c, ihave(m.id));
    await b.next((k) => k.case === 'gossipGraft');
    await c.next((k) => k.case === 'gossipGraft');
    assert.equal(gossip.stats.graftsSent, 2);
  });

  it('tells a new link the ids of the messages it relayed in the last seconds, so a peer joining mid-flight can graft them', async () => {
    const { gossip, peers } = await setup({ names: ['aa', 'bb'] });
    const [a] = peers;
    const m = message('in flight');
    await gossip.onMessage(a, gossipEnv(m));
    const late = fakePeer('dd'.repeat(32));
    gossip.onOpen(late);
    const announcement = await late.next((k) => k.case === 'gossipIhave');
    assert.ok(announcement.case === 'gossipIhave');
    assert.deepEqual(idsIn(announcement.value), [short(m.id)]);
    await gossip.onMessage(late, graft(m.id));
    assert.deepEqual(payloads(late).map((p) => hex(p.id)), [hex(m.id)]);
  });

  it('splits announcements into frames of at most 256 ids', async () => {
    const { gossip, peers } = await setup({ names: ['aa'] });
    const [a] = peers;
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const m = message(`burst ${i}`);
      ids.push(short(m.id));
      await gossip.onMessage(a, gossipEnv(m));
    }
    const late = fakePeer('dd'.repeat(32));
    gossip.onOpen(late);
    await late.next((k) => k.case === 'gossipIhave' && idsIn(k.value).includes(ids[299]!));
    const frames = late.sent.flatMap((k) => (k.case === 'gossipIhave' ? [idsIn(k.value)] : []));
    assert.ok(frames.every((f) => f.length <= 256), `frames of ${frames.map((f) => f.length).join(', ')} ids`);
    assert.deepEqual(frames.flat().sort(), [...ids].sort());
    // The receiving side accepts each frame.
    const { gossip: other, peers: otherPeers } = await setup({ names: ['ee'] });
    for (const k of late.sent) if (k.case === 'gossipIhave') await other.onMessage(otherPeers[0], create(EnvelopeSchema, { kind: k }));
  });

  it('floods to a gossip/1 peer and never prunes or announces to it', async () => {
    const { gossip, peers } = await setup({ names: ['aa', 'bb'] });
    const [a] = peers;
    const old = fakePeer('ee'.repeat(32), [1]);
    gossip.onOpen(old);
    const m1 = message('v1');
    await gossip.onMessage(a, gossipEnv(m1));
    await gossip.onMessage(old, gossipEnv(m1));
    assert.ok(!old.sent.some((k) => k.case === 'gossipPrune'));
    const m2 = message('v1 again');
    await gossip.onMessage(a, gossipEnv(m2));
    assert.equal(payloads(old).length, 2);
    assert.throws(() => gossip.onMessage(old, ihave(m2.id)), { kind: 'protocol-violation' });
  });

  it('rejects oversized or malformed announcements and grafts', async () => {
    const { gossip, peers } = await setup();
    const ids = Array.from({ length: 257 }, () => new Uint8Array(32));
    for (const build of [ihave, graft, ihaveFull, graftFull]) {
      assert.throws(() => gossip.onMessage(peers[0], build(...ids)), { kind: 'protocol-violation' }, '257 ids');
    }
    assert.throws(() => gossip.onMessage(peers[0], ihaveFull(new Uint8Array(31))), { kind: 'protocol-violation' });
    assert.throws(() => gossip.onMessage(peers[0], graftFull(new Uint8Array(33))), { kind: 'protocol-violation' });
    // Prefixes: a whole number of 8 bytes, 256 at most counting the full ids beside them.
    const ragged = create(EnvelopeSchema, { kind: { case: 'gossipIhave', value: create(GossipIHaveSchema, { idPrefixes: new Uint8Array(12) }) } });
    assert.throws(() => gossip.onMessage(peers[0], ragged), { kind: 'protocol-violation' });
    const both = create(EnvelopeSchema, {
      kind: { case: 'gossipGraft', value: create(GossipGraftSchema, { ids: [new Uint8Array(32)], idPrefixes: new Uint8Array(256 * 8) }) },
    });
    assert.throws(() => gossip.onMessage(peers[0], both), { kind: 'protocol-violation' });
  });

  it('speaks full ids to a gossip/3 peer, which may not send prefixes', async () => {
    const { gossip, peers } = await setup({ versions: [3, 2, 1] });
    const [a, b] = peers;
    await gossip.onMessage(b, prune());
    const m = message('for an older peer');
    await gossip.onMessage(a, gossipEnv(m));
    const announcement = await b.next((k) => k.case === 'gossipIhave');
    assert.ok(announcement.case === 'gossipIhave');
    assert.deepEqual(announcement.value.ids.map(hex), [hex(m.id)]);
    assert.equal(announcement.value.idPrefixes.length, 0);
    const lost = message('announced by the older peer');
    await gossip.onMessage(b, ihaveFull(lost.id));
    const g = await b.next((k) => k.case === 'gossipGraft');
    assert.ok(g.case === 'gossipGraft');
    assert.deepEqual(g.value.ids.map(hex), [hex(lost.id)], 'grafted by the full id it announced');
    assert.throws(() => gossip.onMessage(b, ihave(message('x').id)), { kind: 'protocol-violation' });
  });

  it('to a gossip/4 peer, announces 8-byte prefixes and answers a graft by prefix with the message', async () => {
    const { gossip, peers } = await setup();
    const [a, b] = peers;
    await gossip.onMessage(b, prune());
    const m = message('short ids');
    await gossip.onMessage(a, gossipEnv(m));
    const announcement = await b.next((k) => k.case === 'gossipIhave');
    assert.ok(announcement.case === 'gossipIhave');
    assert.equal(announcement.value.ids.length, 0);
    assert.deepEqual(announcement.value.idPrefixes, m.id.subarray(0, 8));
    await gossip.onMessage(b, graft(m.id));
    assert.deepEqual(payloads(b).map((p) => hex(p.id)), [hex(m.id)], 'the full message, full id and all');
  });

  it('a flooding node speaks only gossip/1 and treats tree control messages as violations', async () => {
    const { gossip, peers } = await setup({ names: ['aa'], mode: 'flood' });
    assert.deepEqual(gossip.versions, [1]);
    const p = peers[0];
    assert.throws(() => gossip.onMessage(p, prune()), { kind: 'protocol-violation' });
  });
});
