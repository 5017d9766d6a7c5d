import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Node } from '../../src/node/node.js';
import { collect, link, NodeSet, text, utf8, waitFor } from './node-harness.js';

describe('Node gossip', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('two nodes exchange a broadcast both ways, each logged once at both ends', async () => {
    const a = await set.start();
    const b = await set.start();
    const gotA = collect(a);
    const gotB = collect(b);
    await link(a, b);
    const sent = await a.broadcast('chat', utf8('hello from a'));
    assert.equal(sent.seq, 1n);
    assert.equal(sent.hops, 0);
    assert.equal(sent.origin, a.nodeId);
    await waitFor('b to deliver', () => gotB.length === 1);
    assert.equal(text(gotB[0]!.payload), 'hello from a');
    assert.equal(gotB[0]!.hops, 1);
    assert.deepEqual(gotB[0]!.id, sent.id);

    await b.broadcast('chat', utf8('hello from b'));
    await waitFor('a to deliver', () => gotA.length === 2);
    assert.deepEqual(gotA.map((m) => text(m.payload)), ['hello from a', 'hello from b']);
    assert.deepEqual(gotA.map((m) => m.seq), [1n, 2n]);
    const logged = await b.listMessages(0n, 10);
    assert.deepEqual(logged.map((m) => text(m.payload)), ['hello from a', 'hello from b']);
    assert.deepEqual((await b.getMessage(sent.id))?.payload, sent.payload);
  });

  it('on a line A-B-C, C delivers with hops 2 exactly once', async () => {
    const a = await set.start();
    const b = await set.start();
    const c = await set.start();
    await link(a, b);
    await link(b, c);
    const gotC = collect(c);
    const sent = await a.broadcast('line', utf8('x'));
    await waitFor('c to deliver', () => gotC.length >= 1);
    // Give a stray duplicate the time to arrive if there were one.
    await b.broadcast('line', utf8('marker'));
    await waitFor('c to deliver the marker', () => gotC.length >= 2);
    assert.equal(gotC.length, 2);
    assert.deepEqual(gotC[0]!.id, sent.id);
    assert.equal(gotC[0]!.hops, 2);
    assert.equal(gotC[1]!.hops, 1);
  });

  it('a message that arrives with ttl 0 is delivered but not relayed', async () => {
    // A's broadcasts start with ttl 1: B relays them with ttl 0, C delivers and stops.
    const a = await set.start({ tuning: { gossipTtl: 1 } });
    const b = await set.start();
    const c = await set.start();
    const d = await set.start();
    await link(a, b);
    await link(b, c);
    await link(c, d);
    const gotC = collect(c);
    const gotD = collect(d);
    await a.broadcast('ttl', utf8('short-lived'));
    await waitFor('c to deliver', () => gotC.length === 1);
    assert.equal(gotC[0]!.hops, 2);
    // Had C relayed it, D would have it before C's own later broadcast on the same link.
    await c.broadcast('ttl', utf8('marker'));
    await waitFor('d to deliver the marker', () => gotD.length >= 1);
    assert.deepEqual(gotD.map((m) => text(m.payload)), ['marker']);
  });

  it('with the default ttl, a message crosses a line of 24 nodes (the rooted tree\'s paths have more hops than the graph\'s diameter)', async () => {
    const nodes: Node[] = [];
    for (let i = 0; i < 24; i++) nodes.push(await set.start());
    for (let i = 0; i + 1 < nodes.length; i++) await link(nodes[i]!, nodes[i + 1]!);
    const last = collect(nodes[nodes.length - 1]!);
    await nodes[0]!.broadcast('line', utf8('end to end'));
    await waitFor('the far end to deliver', () => last.length >= 1);
    assert.equal(last[0]!.hops, 23);
    assert.equal(text(last[0]!.payload), 'end to end');
  });

  it('flooding on a 6-node ring with chords: every node delivers each message once, frames bounded by 2 x edges', async () => {
    const nodes: Node[] = [];
    for (let i = 0; i < 6; i++) nodes.push(await set.start({ tuning: { gossipMode: 'flood' } }));
    const edges: [number, number][] = [];
    for (let i = 0; i < 6; i++) edges.push([i, (i + 1) % 6]);
    edges.push([0, 3], [1, 4], [2, 5]);
    for (const [i, j] of edges) await link(nodes[i]!, nodes[j]!);
    const got = nodes.map(collect);
    const before = nodes.map((n) => n.gossipStats.framesSent);
    const messages = 5;
    for (let k = 0; k < messages; k++) await nodes[k % 6]!.broadcast('ring', utf8(`m${k}`));
    await waitFor('every node to deliver every message', () => got.every((g) => g.length >= messages));
    // A final broadcast through everyone flushes any duplicate still in flight.
    await nodes[5]!.broadcast('ring', utf8('last'));
    await waitFor('the last message everywhere', () => got.every((g) => g.length >= messages + 1));
    for (const g of got) {
      assert.equal(g.length, messages + 1);
      assert.equal(new Set(g.map((m) => Buffer.from(m.id).toString('hex'))).size, messages + 1);
    }
    const frames = nodes.reduce((sum, n, i) => sum + n.gossipStats.framesSent - before[i]!, 0);
    assert.ok(frames <= (messages + 1) * 2 * edges.length, `${frames} frames for ${messages + 1} messages on ${edges.length} edges`);
    // Each message crosses every link at least once in some direction.
    assert.ok(frames >= (messages + 1) * edges.length);
  });
});
