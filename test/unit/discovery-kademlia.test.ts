import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { addressGroup, hostOf } from '../../src/discovery/address-group.js';
import { bucketIndex, distance, idBytes, K, randomIdInBucket, RoutingTable, type Contact } from '../../src/discovery/kademlia.js';
import { iterativeLookup } from '../../src/discovery/lookup.js';

const hex = (b: Buffer): string => b.toString('hex');
const contact = (id: Buffer, i = 0): Contact => ({ id: hex(id), address: `127.0.0.1:${10_000 + i}`, lastSeenMs: i });

describe('kademlia geometry', () => {
  it('bucket index is the position of the highest differing bit', () => {
    const self = Buffer.alloc(32);
    const far = Buffer.alloc(32);
    far[0] = 0x80;
    assert.equal(bucketIndex(self, far), 255);
    const near = Buffer.alloc(32);
    near[31] = 1;
    assert.equal(bucketIndex(self, near), 0);
    assert.equal(bucketIndex(self, self), -1);
    const mid = Buffer.alloc(32);
    mid[30] = 0x10;
    assert.equal(bucketIndex(self, mid), 12);
  });

  it('random ids for a bucket land in that bucket', () => {
    const self = randomBytes(32);
    for (const i of [0, 1, 7, 8, 100, 200, 255]) {
      for (let n = 0; n < 20; n++) assert.equal(bucketIndex(self, randomIdInBucket(self, i, randomBytes)), i);
    }
  });

  it('xor distance is symmetric and zero only for itself', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    assert.deepEqual(distance(a, b), distance(b, a));
    assert.deepEqual(distance(a, a), Buffer.alloc(32));
  });

  it('address groups: IPv4 /16, IPv6 /32, loopback one group', () => {
    assert.equal(addressGroup('10.1.2.3'), addressGroup('10.1.200.4'));
    assert.notEqual(addressGroup('10.1.2.3'), addressGroup('10.2.2.3'));
    assert.equal(addressGroup('127.0.0.1'), addressGroup('127.0.0.1'));
    assert.equal(addressGroup('2001:db8::1'), addressGroup('2001:db8:ffff::2'));
    assert.equal(hostOf('[::1]:7000'), '::1');
    assert.equal(hostOf('10.0.0.1:7000'), '10.0.0.1');
  });
});

describe('routing table', () => {
  it('keeps k per bucket, least recently seen first, and reports the oldest when full', () => {
    const self = Buffer.alloc(32);
    const table = new RoutingTable(hex(self));
    const ids: Buffer[] = [];
    for (let i = 0; i < K + 1; i++) {
      const id = randomIdInBucket(self, 255, randomBytes);
      ids.push(id);
    }
    for (let i = 0; i < K; i++) assert.equal(table.add(contact(ids[i]!, i)).kind, 'added');
    const full = table.add(contact(ids[K]!, K));
    assert.equal(full.kind, 'full');
    assert.equal(full.kind === 'full' && full.oldest.id, hex(ids[0]!));
    // Seen again: moves to the tail, so the next oldest is reported.
    assert.equal(table.add(contact(ids[0]!, 100)).kind, 'updated');
    const again = table.add(contact(ids[K]!, K));
    assert.equal(again.kind === 'full' && again.oldest.id, hex(ids[1]!));
    table.replace(contact(ids[1]!), contact(ids[K]!, K));
    assert.ok(table.get(hex(ids[K]!)) !== undefined);
    assert.equal(table.get(hex(ids[1]!)), undefined);
    assert.equal(table.size, K);
  });

  it('closest returns contacts by xor distance to the target', () => {
    const table = new RoutingTable(hex(randomBytes(32)));
    for (let i = 0; i < 100; i++) table.add(contact(randomBytes(32), i));
    const target = randomBytes(32);
    const got = table.closest(target, 10);
    assert.equal(got.length, 10);
    const all = table.all().map((c) => c.id).sort((a, b) => Buffer.compare(distance(idBytes(a), target), distance(idBytes(b), target)));
    assert.deepEqual(got.map((c) => c.id), all.slice(0, 10));
  });
});

describe('iterative lookup', () => {
  /** A network of routing tables, each filled from every other node in random order (k per bucket). */
  function network(n: number): Map<string, RoutingTable> {
    const ids = Array.from({ length: n }, () => randomBytes(32));
    const net = new Map<string, RoutingTable>();
    ids.forEach((id, i) => {
      const t = new RoutingTable(hex(id));
      const order = ids.map((_, j) => j).sort(() => Math.random() - 0.5);
      for (const j of order) if (j !== i) t.add(contact(ids[j]!, j));
      net.set(hex(id), t);
    });
    return net;
  }

  it('finds a node several hops away, querying a bounded number of nodes', async () => {
    const net = network(300);
    const ids = [...net.keys()];
    for (let round = 0; round < 5; round++) {
      const from = ids[round]!;
      const target = ids[299 - round]!;
      const start = net.get(from)!.closest(idBytes(target), 3);
      const r = await iterativeLookup({
        target: idBytes(target),
        start,
        selfId: from,
        deadlineMs: Date.now() + 5_000,
        isGoal: (c) => c.id === target,
        query: async (c) => net.get(c.id)?.closest(idBytes(target), K) ?? [],
      });
      assert.equal(r.goal?.id, target);
      assert.ok(r.queried <= 4 * K);
    }
  });

  it('counts the hops: the queries in the chain that led to the goal', async () => {
    // A line: each node knows only the next one, so the target at the end is 3 queries away.
    const ids = Array.from({ length: 4 }, () => hex(randomBytes(32)));
    const next = new Map(ids.slice(0, -1).map((id, i) => [id, ids[i + 1]!]));
    const target = ids[3]!;
    const r = await iterativeLookup({
      target: idBytes(target),
      start: [{ id: ids[0]!, address: '127.0.0.1:1', lastSeenMs: 0 }],
      selfId: hex(randomBytes(32)),
      deadlineMs: Date.now() + 5_000,
      isGoal: (c) => c.id === target,
      query: async (c) => {
        const n = next.get(c.id);
        return n === undefined ? [] : [{ id: n, address: '127.0.0.1:1', lastSeenMs: 0 }];
      },
    });
    assert.equal(r.goal?.id, target);
    assert.equal(r.hops, 3);
    const known = await iterativeLookup({
      target: idBytes(target),
      start: [{ id: target, address: '127.0.0.1:1', lastSeenMs: 0 }],
      selfId: hex(randomBytes(32)),
      deadlineMs: Date.now() + 5_000,
      isGoal: (c) => c.id === target,
      query: async () => [],
    });
    assert.equal(known.hops, 0, 'a target known at the start is 0 hops away');
    const none = await iterativeLookup({ target: idBytes(target), start: [], selfId: ids[0]!, deadlineMs: Date.now() + 1_000, query: async () => [] });
    assert.equal(none.hops, -1);
  });

  it('skips nodes that do not answer and stops at the deadline', async () => {
    const net = network(50);
    const ids = [...net.keys()];
    const dead = new Set(ids.slice(0, 25));
    const target = idBytes(ids[49]!);
    const r = await iterativeLookup({
      target,
      start: ids.slice(20, 30).map((id) => ({ id, address: '127.0.0.1:1', lastSeenMs: 0 })),
      selfId: hex(randomBytes(32)),
      deadlineMs: Date.now() + 5_000,
      query: async (c) => {
        if (dead.has(c.id)) throw new Error('no answer');
        return net.get(c.id)?.closest(target, K) ?? [];
      },
    });
    assert.ok(r.responders.length > 0);
    assert.ok(r.responders.every((c) => !dead.has(c.id)));
    assert.ok(r.closest.every((c) => !dead.has(c.id)));
    const started = Date.now();
    const slow = await iterativeLookup({
      target: randomBytes(32),
      start: [{ id: ids[0]!, address: '127.0.0.1:1', lastSeenMs: 0 }],
      selfId: hex(randomBytes(32)),
      deadlineMs: Date.now() + 100,
      query: () => new Promise<Contact[]>(() => undefined),
    });
    assert.equal(slow.goal, undefined);
    assert.equal(slow.closest.length, 0);
    assert.ok(Date.now() - started < 5_000);
  });
});
