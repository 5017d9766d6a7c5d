/**
 * Partition scenario: after bootstrap the network splits in two halves (by
 * node index parity) for `partitionMinutes`, with two miners on each side
 * and transactions submitted on both; then it heals. Reported: how long
 * until every node has the same head, and transactions lost (submitted and
 * accepted, then neither in the final chain nor in any pool).
 *
 * The chain runs with regtest parameters: a block costs a few hundred
 * hashes, so the mining workers (real threads, real time) never hold the
 * simulation up. Block production is therefore not calibrated to simulated
 * time; what is measured is how the two sides' chains reconcile.
 */
import { toHex } from '../../src/crypto/hash.js';
import { round } from './measure.js';
import type { SimNode } from './network.js';
import { Sim, SEEDS, type Result, type ScenarioOptions } from './scenarios.js';

const MINERS_PER_SIDE = 2;
const HEAL_LIMIT_MS = 10 * 60_000;
/** After the heads agree, how long pools may take to get their transactions mined. */
const INCLUDE_LIMIT_MS = 2 * 60_000;

export async function partitionScenario(o: ScenarioOptions & { partitionMinutes?: number }): Promise<Result> {
  const minutes = o.partitionMinutes ?? 5;
  const sim = new Sim(o, { network: 'regtest' });
  const side = (n: SimNode): number => n.index % 2;
  const miner = (i: number): boolean => i >= SEEDS && i < SEEDS + 2 * MINERS_PER_SIDE;
  try {
    await sim.bootstrap((i) => ({ mine: miner(i) }));
    await sim.clock.runFor(30_000);
    const nodes = sim.cluster.nodes;
    const sideOf = new Map(nodes.map((n) => [n.host, side(n)]));
    const submitted: { id: Uint8Array; idHex: string }[] = [];
    let rejected = 0;
    const submit = (): void => {
      const n = nodes[Math.floor(sim.random() * nodes.length)]!;
      const payload = new Uint8Array(64);
      new DataView(payload.buffer).setUint32(0, submitted.length + rejected);
      n.node
        .chainNode()
        .submitOwn('sim-tx', payload)
        .then(
          ({ tx, reason }) => (reason === undefined ? submitted.push({ id: tx.id, idHex: tx.idHex }) : rejected++),
          () => rejected++,
        );
    };
    const gap = 1000 / o.rate;
    const cutAt = sim.clock.now();
    sim.cluster.net.setPartition((a, b) => sideOf.get(a) !== sideOf.get(b));
    const healAt = cutAt + minutes * 60_000;
    for (let t = cutAt; t < healAt; t += gap) {
      await sim.clock.runUntil(Math.floor(t));
      submit();
    }
    await sim.clock.runUntil(healAt);
    const headsAtHeal = new Set(nodes.map((n) => n.node.chainNode().chain.head.hashHex)).size;
    const heightAtHeal = Math.max(...nodes.map((n) => n.node.chainNode().chain.height));
    const crossLinks = (): number => {
      let links = 0;
      const byId = new Map(nodes.map((n) => [n.nodeId, n]));
      for (const n of nodes) for (const p of n.node.listPeers()) if (p.direction === 'outbound' && byId.get(p.nodeId) !== undefined && side(byId.get(p.nodeId)!) !== side(n)) links++;
      return links;
    };
    const crossLinksAtHeal = crossLinks();
    sim.cluster.net.setPartition(undefined);
    const sameHead = (): boolean => new Set(nodes.map((n) => n.node.chainNode().chain.head.hashHex)).size === 1;
    const converged = await sim.clock.runUntilTrue(sameHead, HEAL_LIMIT_MS);
    const chainsAfterHealMs = sim.clock.now() - healAt;
    // Then: everything submitted should end up in the chain (abandoned blocks' transactions are re-offered).
    const reference = nodes[0]!.node.chainNode();
    let missing = submitted.length;
    const deadline = sim.clock.now() + INCLUDE_LIMIT_MS;
    while (sim.clock.now() < deadline) {
      const found = await reference.chain.findTransactions(submitted.map((t) => t.id));
      missing = found.filter((e) => e === undefined).length;
      if (missing === 0) break;
      await sim.clock.runFor(1_000);
    }
    const found = await reference.chain.findTransactions(submitted.map((t) => t.id));
    const notInChain = submitted.filter((_, i) => found[i] === undefined);
    const lost = notInChain.filter((t) => !nodes.some((n) => n.node.chainNode().pool.has(t.idHex)));
    return {
      scenario: 'partition',
      nodes: o.nodes,
      partitionMinutes: minutes,
      minersPerSide: MINERS_PER_SIDE,
      transactions: submitted.length,
      rejectedTransactions: rejected,
      headsAtHeal,
      crossLinksAtHeal,
      crossLinksAtEnd: crossLinks(),
      headsAtEnd: new Set(nodes.map((n) => n.node.chainNode().chain.head.hashHex)).size,
      heightAtHeal,
      converged,
      chainsAfterHealSeconds: converged ? round(chainsAfterHealMs / 1000, 1) : null,
      finalHeight: reference.chain.height,
      notInChain: notInChain.length,
      /** Relative to node 0's chain: when the sides never reconcile, the other side's transactions count here. */
      lostTransactions: lost.length,
      lostExample: lost[0] === undefined ? undefined : toHex(lost[0].id),
      chainParams: 'regtest',
      ...sim.targetStats(),
      ...sim.resources(),
    };
  } finally {
    await sim.close();
  }
}
