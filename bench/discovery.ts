/**
 * Discovery workload: 32 nodes in one process, all started at once with one
 * seed (`seeds: [node 0]`, 8 outbound / 64 inbound slots, engine period
 * 200 ms). Measured:
 * - bootstrap: from the first start() to every node holding 8 outbound peers;
 * - FindNode: 200 lookups of a random node from a random other node over that
 *   network (iterative Kademlia, alpha 3), p50 and p99 of the time to the
 *   answer, the nodes queried and whether the address was right; also the
 *   same percentiles over the lookups that had to query at least one node
 *   (the others found the target in the routing table already).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Node } from '../src/node/node.js';

const NODES = 32;
const OUTBOUND = 8;
const LOOKUPS = 200;
const DEADLINE_MS = 120_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function run(): Promise<Record<string, unknown>[]> {
  const root = await mkdtemp(join(tmpdir(), 'pheromones-bench-discovery-'));
  const nodes: Node[] = [];
  const make = (i: number, seeds: string[]): Node =>
    new Node({
      dataDir: join(root, `n${i}`),
      network: 'benchnet',
      listenHost: '127.0.0.1',
      listenPort: 0,
      peers: [],
      seeds,
      maxInbound: 64,
      maxOutbound: OUTBOUND,
      grpcAddress: '',
      logger: pino({ level: 'silent' }),
      discovery: { engineIntervalMs: 200, retryBaseMs: 500, autoConnect: 'on' },
    });
  try {
    const started = performance.now();
    const seed = make(0, []);
    nodes.push(seed);
    await seed.start();
    for (let i = 1; i < NODES; i++) nodes.push(make(i, [seed.listenAddress]));
    await Promise.all(nodes.slice(1).map((n) => n.start()));
    const outbound = (n: Node): number => n.listPeers().filter((p) => p.direction === 'outbound').length;
    await waitFor(() => nodes.every((n) => outbound(n) >= OUTBOUND), DEADLINE_MS, 'full outbound slots');
    const bootstrapMs = performance.now() - started;

    const times: number[] = [];
    const queried: number[] = [];
    let wrong = 0;
    let failed = 0;
    let notConnected = 0;
    for (let k = 0; k < LOOKUPS; k++) {
      const from = nodes[Math.floor(Math.random() * NODES)]!;
      let target = nodes[Math.floor(Math.random() * NODES)]!;
      while (target === from) target = nodes[Math.floor(Math.random() * NODES)]!;
      if (!from.listPeers().some((p) => p.nodeId === target.nodeId)) notConnected++;
      const t0 = performance.now();
      try {
        const r = await from.discovery!.findNode(target.nodeId, 10_000);
        times.push(performance.now() - t0);
        queried.push(r.queried);
        if (r.address !== target.listenAddress) wrong++;
      } catch {
        failed++;
      }
    }
    const remote = times.filter((_, i) => (queried[i] ?? 0) > 0).sort((a, b) => a - b);
    times.sort((a, b) => a - b);
    queried.sort((a, b) => a - b);
    return [
      { measure: 'bootstrap', nodes: NODES, outbound_slots: OUTBOUND, full_outbound_ms: Math.round(bootstrapMs) },
      {
        measure: 'find_node',
        nodes: NODES,
        lookups: LOOKUPS,
        target_not_connected: notConnected,
        p50_ms: Number(percentile(times, 50).toFixed(2)),
        p99_ms: Number(percentile(times, 99).toFixed(2)),
        queried_p50: percentile(queried, 50),
        remote_lookups: remote.length,
        remote_p50_ms: Number(percentile(remote, 50).toFixed(2)),
        remote_p99_ms: Number(percentile(remote, 99).toFixed(2)),
        queried_max: queried.at(-1) ?? 0,
        wrong_address: wrong,
        failed,
      },
    ];
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await rm(root, { recursive: true, force: true });
  }
}
