import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryTracker, Sim } from '../../bench/sim/scenarios.js';
import type { SimNode } from '../../bench/sim/network.js';
import { GOSSIP_DEFAULTS } from '../../src/gossip/gossip.js';

/**
 * Gossip/5's rooted tree on 40 real nodes over the simulated network (seeded
 * latencies of 10-150 ms a way): one root, loop-free shortest paths to it,
 * and a mesh that pushes along exactly those paths.
 */

const BEACON_MS = GOSSIP_DEFAULTS.treeBeaconMs;

function byId(nodes: SimNode[]): Map<string, SimNode> {
  return new Map(nodes.map((n) => [n.nodeId, n]));
}

/** Shortest round-trip distance from `root` to every node over the session graph. */
function shortestRtt(sim: Sim, nodes: SimNode[], root: SimNode): Map<string, number> {
  const ids = byId(nodes);
  const dist = new Map<string, number>([[root.nodeId, 0]]);
  const done = new Set<string>();
  for (let round = 0; round < nodes.length; round++) {
    let u: string | undefined;
    for (const [id, d] of dist) if (!done.has(id) && (u === undefined || d < dist.get(u)!)) u = id;
    if (u === undefined) break;
    done.add(u);
    const from = ids.get(u)!;
    for (const p of from.node.listPeers()) {
      const to = ids.get(p.nodeId);
      if (to === undefined) continue;
      const d = dist.get(u)! + 2 * sim.cluster.net.latency.oneWayMs(from.host, to.host);
      if (d < (dist.get(p.nodeId) ?? Number.POSITIVE_INFINITY)) dist.set(p.nodeId, d);
    }
  }
  return dist;
}

/** Every node's path of parents ends at the lowest live id, without a loop, and is near the shortest. */
function assertRootedTree(sim: Sim): { root: SimNode; parentLinks: Set<string> } {
  const live = sim.cluster.live();
  const ids = byId(live);
  const root = live.reduce((a, b) => (b.nodeId < a.nodeId ? b : a));
  const shortest = shortestRtt(sim, live, root);
  const parentLinks = new Set<string>();
  for (const n of live) {
    const t = n.node.gossipTree;
    assert.ok(t !== undefined);
    assert.equal(t.root, root.nodeId, `node ${n.index} follows the lowest live id as root`);
    let at = n;
    let treeRtt = 0;
    for (let hop = 0; at !== root; hop++) {
      assert.ok(hop < live.length, `node ${n.index}: its parents loop`);
      const parent = at.node.gossipTree?.parent;
      assert.ok(parent !== undefined, `node ${at.index} has a parent`);
      const next = ids.get(parent);
      assert.ok(next !== undefined && at.node.listPeers().some((p) => p.nodeId === parent), `node ${at.index}'s parent is a live peer`);
      if (at === n) parentLinks.add([n.nodeId, parent].sort().join(','));
      treeRtt += 2 * sim.cluster.net.latency.oneWayMs(at.host, next.host);
      at = next;
    }
    // A node keeps its parent until another is 10% nearer, so paths may be a little longer than the shortest.
    assert.ok(treeRtt <= 1.25 * shortest.get(n.nodeId)! + 1, `node ${n.index}: tree path ${treeRtt} ms against the shortest ${shortest.get(n.nodeId)} ms`);
  }
  assert.equal(parentLinks.size, live.length - 1);
  return { root, parentLinks };
}

function eagerAtBothEnds(sim: Sim): Set<string> {
  const live = sim.cluster.live();
  const half = new Set<string>();
  const both = new Set<string>();
  for (const n of live) {
    for (const p of n.node.listPeers()) {
      if (p.gossip?.eager !== true) continue;
      const key = [n.nodeId, p.nodeId].sort().join(',');
      if (half.has(key)) both.add(key);
      else half.add(key);
    }
  }
  return both;
}

async function broadcastAll(sim: Sim, count: number): Promise<{ delivered: number; duplicates: number }> {
  const live = sim.cluster.live();
  const tracker = new DeliveryTracker(sim);
  for (const n of live) tracker.watch(n);
  const dup0 = live.reduce((s, n) => s + n.node.gossipStats.duplicates, 0);
  for (let i = 0; i < count; i++) {
    tracker.publish(live[Math.floor(sim.random() * live.length)]!, 256);
    await sim.clock.runFor(500);
  }
  await sim.clock.runUntilTrue(() => tracker.deliveredBy.every((s) => s.size === live.length), 30_000);
  return {
    delivered: tracker.deliveredBy.filter((s) => s.size === live.length).length,
    duplicates: live.reduce((s, n) => s + n.node.gossipStats.duplicates, 0) - dup0,
  };
}

test('gossip/5 builds one shortest-path tree to the lowest id, pushes only along it, and elects a new root when the root dies', async () => {
  const sim = new Sim({ nodes: 40, seed: 2, lookups: 0, messages: 0, rate: 1, payloadBytes: 256, tuning: {} });
  try {
    await sim.bootstrap();
    await sim.clock.runFor(3 * BEACON_MS);
    const { root, parentLinks } = assertRootedTree(sim);

    // No message has flowed yet: links outside the tree stopped pushing on their own.
    assert.deepEqual([...eagerAtBothEnds(sim)].sort(), [...parentLinks].sort(), 'the links pushing at both ends are the tree links');
    const first = await broadcastAll(sim, 10);
    assert.equal(first.delivered, 10, 'every message reached every node');
    // A copy comes twice only where a shortcut's announcement beat the tree's copy by the graft
    // timeout; a mesh of 40 nodes with 8 outbound links each would give hundreds per message.
    assert.ok(first.duplicates <= 2 * 10, `${first.duplicates} duplicates for 10 messages`);

    sim.cluster.kill(root);
    const live = sim.cluster.live();
    const next = live.reduce((a, b) => (b.nodeId < a.nodeId ? b : a));
    const limit = GOSSIP_DEFAULTS.treeRootTimeoutMs + 3 * BEACON_MS;
    const t0 = sim.clock.now();
    await sim.clock.runUntilTrue(() => live.every((n) => n.node.gossipTree?.root === next.nodeId && (n === next || n.node.gossipTree.parent !== undefined)), limit);
    assert.ok(sim.clock.now() - t0 < limit, `a new root within ${limit} ms of the old one's death`);
    await sim.clock.runFor(2 * BEACON_MS);
    assertRootedTree(sim);
    const after = await broadcastAll(sim, 10);
    assert.equal(after.delivered, 10, 'every message reached every live node under the new root');
  } finally {
    await sim.close();
  }
});
