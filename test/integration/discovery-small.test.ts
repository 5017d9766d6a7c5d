import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Node } from '../../src/node/node.js';
import { FAST_DISCOVERY } from './discovery-harness.js';
import { NodeSet, waitFor } from './node-harness.js';


const outboundOf = (n: Node): number => n.listPeers().filter((p) => p.direction === 'outbound').length;

describe('discovery on a small network', () => {
  const set = new NodeSet();
  after(() => set.cleanup());

  it('3 nodes with default limits and one seed: each connects to both others', async () => {
    const seed = await set.start({ maxInbound: 64, maxOutbound: 8, discovery: FAST_DISCOVERY });
    const b = await set.start({ maxInbound: 64, maxOutbound: 8, seeds: [seed.listenAddress], discovery: FAST_DISCOVERY });
    const c = await set.start({ maxInbound: 64, maxOutbound: 8, seeds: [seed.listenAddress], discovery: FAST_DISCOVERY });
    const all = [seed, b, c];
    await waitFor('a full mesh of 3', () => all.every((n) => new Set(n.listPeers().map((p) => p.nodeId)).size === 2));
    for (const n of all) {
      const ids = new Set(n.listPeers().map((p) => p.nodeId));
      for (const m of all) if (m !== n) assert.ok(ids.has(m.nodeId), `${n.nodeId.slice(0, 8)} connected to ${m.nodeId.slice(0, 8)}`);
    }
    assert.ok(outboundOf(b) >= 1 && outboundOf(c) >= 1);
    // Peers told each node the address they see for it.
    await waitFor('observed addresses', async () => (await b.info()).observedAddresses.includes(b.listenAddress));
  });
});
