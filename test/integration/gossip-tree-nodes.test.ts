import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { peerToApi } from '../../src/api/convert.js';
import type { Node } from '../../src/node/node.js';
import { collect, link, NodeSet, utf8, waitFor } from './node-harness.js';

/**
 * The broadcast tree with in-process nodes: on a graph with cycles, once
 * warm-up messages have pruned the redundant links, each node receives one
 * copy per message, and the counters that show it are in listPeers() and
 * info().
 */

/** 10 nodes: a ring plus chords, 15 edges, every node on a cycle. */
const N = 10;
const EDGES: [number, number][] = [
  ...Array.from({ length: N }, (_, i) => [i, (i + 1) % N] as [number, number]),
  [0, 5], [2, 7], [1, 4], [3, 8], [6, 9],
];
const MESSAGES = 30;
const WARM_UP_MAX = 15;

describe('gossip tree, in-process nodes', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('after warm-up every node gets one copy per message; counters in listPeers and info show it', async () => {
    const nodes: Node[] = [];
    for (let i = 0; i < N; i++) nodes.push(await set.start({ tuning: { gossipIHaveFlushMs: 5 } }));
    for (const [x, y] of EDGES) await link(nodes[x]!, nodes[y]!);
    const got = nodes.map(collect);
    const publisher = nodes[0]!;

    // Warm-up: the first message is flooded; each duplicate prunes the
    // heaviest link of the cycle it shows, so a few messages settle the tree.
    const dups = (): number => nodes.reduce((s, n) => s + n.gossipStats.duplicates, 0);
    let warm = 0;
    for (let last = -1; warm < WARM_UP_MAX && dups() !== last; warm++) {
      last = dups();
      await publisher.broadcast('warm', utf8(`warm-up ${warm}`));
      await waitFor('the warm-up everywhere', () => got.every((g) => g.length === warm + 1));
    }
    assert.ok(warm < WARM_UP_MAX, `the tree still carried duplicates after ${WARM_UP_MAX} warm-up messages`);
    const before = nodes.map((n) => n.gossipStats);

    for (let k = 0; k < MESSAGES; k++) await publisher.broadcast('tree', utf8(`m${k}`));
    await waitFor('every message everywhere', () => got.every((g) => g.length === MESSAGES + warm));
    const after = nodes.map((n) => n.gossipStats);
    for (const [i, g] of got.entries()) {
      assert.equal(new Set(g.map((m) => Buffer.from(m.id).toString('hex'))).size, MESSAGES + warm, `node ${i} delivered each message once`);
    }
    const copies = after.reduce((s, a, i) => s + a.payloadsReceived - before[i]!.payloadsReceived, 0);
    const duplicates = after.reduce((s, a, i) => s + a.duplicates - before[i]!.duplicates, 0);
    // Flooding would make it about 2 x edges - nodes + 1 copies per message (21 here).
    assert.ok(copies <= MESSAGES * (N - 1) * 1.2, `${copies} copies for ${MESSAGES} messages to ${N - 1} nodes`);
    assert.ok(duplicates <= MESSAGES * (N - 1) * 0.2, `${duplicates} duplicates`);
    assert.ok(after.reduce((s, a, i) => s + a.ihaveSent - before[i]!.ihaveSent, 0) > 0, 'ids announced on the lazy links');

    // Per peer: the tree links are eager, the others lazy, and the numbers reach the API shape.
    const peers = nodes.flatMap((n) => n.listPeers());
    assert.equal(peers.length, 2 * EDGES.length);
    assert.ok(peers.every((p) => p.gossip !== undefined));
    const eager = peers.filter((p) => p.gossip!.eager).length;
    assert.ok(eager >= N - 1 && eager < 2 * EDGES.length, `${eager} eager link ends`);
    const api = peerToApi(peers.find((p) => p.gossip!.payloadsReceived > 0)!);
    assert.equal(typeof api.gossip?.payloadsReceived, 'bigint');

    const info = await nodes[3]!.info();
    assert.equal(info.gossip?.mode, 'tree');
    const topic = info.gossip?.topics.find((t) => t.topic === 'tree');
    assert.equal(topic?.delivered, MESSAGES);
  });
});
