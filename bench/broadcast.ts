/**
 * Broadcast workload (W2): 32 nodes in one process on the reference graph
 * (/work/shared/bench/w2-topology-seed1.json, each node dials 3 others), node
 * 0 publishes 1 KiB messages. Measured as the reference figures were (see
 * ../shared/bench/README.md):
 * - delivered fraction: share of messages that reached all 31 other nodes;
 * - sustained rate: the highest rate of a ladder at which, in each of 3 runs,
 *   >= 99.9% of 2,000 messages reach all 31 nodes, p99 latency to the last
 *   node <= 1 s and the publisher keeps >= 95% of the target rate;
 * - latency to the last node: publish to delivery at the 31st node, p50 and p99;
 * - amplification: bytes written to every TCP socket of the process during the
 *   run / (messages x 31 x 1 KiB).
 * Each gossip mode (flood, tree) runs in its own child process, so peak RSS
 * is that mode's alone: a latency run at 20 msgs/s, the rate ladder, then an
 * as-fast-as-possible run.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import type { GossipStats } from '../src/gossip/stats.js';
import { emptyStats } from '../src/gossip/stats.js';
import type { Node } from '../src/node/node.js';
import { buildBaseline, optionValue, type Baseline } from './baseline.js';

/** From dist/bench/ where this runs. */
const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const TOPOLOGY = resolve(REPO_ROOT, '../shared/bench/w2-topology-seed1.json');

const MESSAGES = 2_000;
const PAYLOAD_BYTES = 1_024;
/** The latency run: 20 msgs/s for 15 s. */
const LATENCY_RATE = 20;
const LATENCY_MESSAGES = 300;
/** Rates tried in order until one fails the sustained criteria. */
const RATE_LADDER = process.env.PHEROMONES_BENCH_LADDER?.split(',').map(Number) ?? [100, 200, 300, 500, 750, 1000, 1500, 2000];
const MODES = ['flood', 'tree'] as const;
type GossipMode = (typeof MODES)[number];
/** Runs per ladder step, all of which must pass (PHEROMONES_BENCH_REPEAT=1 while tuning). */
const REPEATS = Number(process.env.PHEROMONES_BENCH_REPEAT ?? 3);
/** Broadcasts in flight in the as-fast-as-possible run. */
const FAST_WINDOW = 64;
const CONNECT_DEADLINE_MS = 60_000;
/** Give up waiting for stragglers once nothing new arrived for this long. */
const QUIET_MS = 10_000;

interface Topology {
  nodes: number;
  publisher: number;
  edges: [number, number][];
}

interface RunResult extends Record<string, unknown> {
  run: string;
  delivered_fraction: number;
  latency_last_p99_ms: number;
  publish_rate: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Wall clock with sub-millisecond resolution, as carried in payloads. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Bytes written by every socket of every node: each connection counted once per end. */
function bytesWritten(nodes: Node[]): number {
  let sum = 0;
  for (const n of nodes) for (const p of n.listPeers()) sum += p.bytesOut;
  return sum;
}

function sessionCount(nodes: Node[]): number {
  return nodes.reduce((sum, n) => sum + n.listPeers().length, 0);
}

async function waitConnected(nodes: Node[], topo: Topology): Promise<void> {
  const neighbours = nodes.map(() => new Set<string>());
  for (const [x, y] of topo.edges) {
    neighbours[x]!.add(nodes[y]!.nodeId);
    neighbours[y]!.add(nodes[x]!.nodeId);
  }
  const deadline = Date.now() + CONNECT_DEADLINE_MS;
  for (;;) {
    const missing = nodes.reduce((sum, n, i) => {
      const have = new Set(n.listPeers().map((p) => p.nodeId));
      return sum + [...neighbours[i]!].filter((id) => !have.has(id)).length;
    }, 0);
    const extra = sessionCount(nodes) - 2 * topo.edges.length;
    if (missing === 0 && extra > 0) throw new Error(`${extra / 2} links beyond the graph's ${topo.edges.length}`);
    if (missing === 0) return;
    if (Date.now() > deadline) throw new Error(`${missing} links still missing after ${CONNECT_DEADLINE_MS} ms`);
    await sleep(50);
  }
}

async function waitDiscoveryIdle(nodes: Node[]): Promise<void> {
  const deadline = Date.now() + CONNECT_DEADLINE_MS;
  while (nodes.some((n) => (n.discovery?.lookupsInFlight() ?? 0) > 0)) {
    if (Date.now() > deadline) throw new Error(`DHT lookups still running after ${CONNECT_DEADLINE_MS} ms`);
    await sleep(50);
  }
}

let runCounter = 0;

/** `rate` msgs/s, or as fast as the publisher can with `rate` undefined. */
async function measure(nodes: Node[], topo: Topology, rate: number | undefined, messages: number): Promise<RunResult> {
  const MESSAGES = messages;
  const mode = rate === undefined ? 'max-rate' : `rate-${rate}`;
  const topic = `bench-${runCounter++}-${mode}`;
  const receivers = nodes.length - 1;
  const sentAt = new Float64Array(MESSAGES);
  const reached = new Uint16Array(MESSAGES);
  const lastAt = new Float64Array(MESSAGES);
  let fullyDelivered = 0;
  let lastProgress = nowMs();
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    allDone = r;
  });

  const offs = nodes.map((n, i) =>
    i === topo.publisher
      ? () => undefined
      : n.onMessage((m) => {
          if (m.topic !== topic) return;
          const at = nowMs();
          const view = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
          const seq = view.getUint32(0);
          if (seq >= MESSAGES) return;
          lastAt[seq] = Math.max(lastAt[seq]!, at);
          lastProgress = at;
          if (++reached[seq]! === receivers && ++fullyDelivered === MESSAGES) allDone();
        }),
  );

  const sessionsBefore = sessionCount(nodes);
  const statsBefore = gossipTotals(nodes);
  const bytesBefore = bytesWritten(nodes);
  const publisher = nodes[topo.publisher]!;
  const payload = (seq: number): Uint8Array => {
    const buf = new Uint8Array(PAYLOAD_BYTES);
    randomFillSync(buf);
    const view = new DataView(buf.buffer);
    view.setUint32(0, seq);
    sentAt[seq] = nowMs();
    view.setFloat64(4, sentAt[seq]!);
    return buf;
  };

  // How long ready work waited for the event loop all 32 nodes share: the
  // part of the latency that is CPU, not network or disk.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  // The process-wide high-water mark (maxRSS) never comes down: sample this run's own peak.
  let runPeakRss = process.memoryUsage.rss();
  let atPeak = process.memoryUsage();
  const rssSampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss <= runPeakRss) return;
    runPeakRss = rss;
    // Where the peak is: V8 heap, ArrayBuffers, or native (LevelDB, malloc, code).
    atPeak = process.memoryUsage();
  }, 50);
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const start = nowMs();
  let issueEnd = start;
  if (rate !== undefined) {
    const interval = 1000 / rate;
    const pending: Promise<unknown>[] = [];
    for (let seq = 0; seq < MESSAGES; seq++) {
      const due = start + seq * interval;
      const wait = due - nowMs();
      if (wait > 1) await sleep(wait);
      pending.push(publisher.broadcast(topic, payload(seq)));
    }
    issueEnd = nowMs();
    await Promise.all(pending);
  } else {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < MESSAGES) await publisher.broadcast(topic, payload(next++));
    };
    await Promise.all(Array.from({ length: FAST_WINDOW }, worker));
    issueEnd = nowMs();
  }
  const publishEnd = nowMs();

  // Wait for every delivery, or until nothing has arrived for a while.
  for (;;) {
    const quiet = new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), 250));
    if ((await Promise.race([done.then(() => 'done' as const), quiet])) === 'done') break;
    if (nowMs() - lastProgress > QUIET_MS) break;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const elu = performance.eventLoopUtilization(eluBefore);
  for (const off of offs) off();
  loopDelay.disable();
  clearInterval(rssSampler);

  const bytes = bytesWritten(nodes) - bytesBefore;
  const statsAfter = gossipTotals(nodes);
  const sessionsAfter = sessionCount(nodes);
  const latencies: number[] = [];
  let end = start;
  for (let seq = 0; seq < MESSAGES; seq++) {
    if (reached[seq] !== receivers) continue;
    latencies.push(lastAt[seq]! - sentAt[seq]!);
    end = Math.max(end, lastAt[seq]!);
  }
  latencies.sort((a, b) => a - b);
  const seconds = (end - start) / 1000;
  const counter = (k: keyof GossipStats): number => statsAfter[k] - statsBefore[k];
  return {
    run: mode,
    messages: MESSAGES,
    target_rate: rate ?? null,
    // Rate of broadcast() calls (frames leave at once), and of their local logging completing.
    publish_rate: round(MESSAGES / ((issueEnd - start) / 1000), 1),
    publish_logged_rate: round(MESSAGES / ((publishEnd - start) / 1000), 1),
    delivered_fraction: round(fullyDelivered / MESSAGES, 4),
    msgs_per_sec: round(fullyDelivered / seconds, 1),
    latency_last_p50_ms: round(percentile(latencies, 50)),
    latency_last_p99_ms: round(percentile(latencies, 99)),
    amplification: round(bytes / (MESSAGES * receivers * PAYLOAD_BYTES), 3),
    bytes_written: bytes,
    // Per message, over all 31 receivers: 1.0 is one copy per node.
    copies_per_node: round(counter('payloadsReceived') / (MESSAGES * receivers), 3),
    duplicates_per_node: round(counter('duplicates') / (MESSAGES * receivers), 3),
    ihave_ids: counter('ihaveSent'),
    grafts: counter('graftsSent'),
    prunes: counter('prunesSent'),
    recovered: counter('recovered'),
    // A session that dropped mid-run would make the byte count incomplete.
    sessions_stable: sessionsBefore === sessionsAfter,
    loop_delay_p50_ms: round(loopDelay.percentile(50) / 1e6),
    loop_delay_p99_ms: round(loopDelay.percentile(99) / 1e6),
    loop_delay_max_ms: round(loopDelay.max / 1e6),
    // Process CPU time (user + system, every thread) over the run per published message, as libp2p's 53.6 ms was defined.
    cpu_ms_per_message: round((cpu.user + cpu.system) / 1000 / MESSAGES, 3),
    // The event loop's busy time per message: the one thread all 32 nodes share, which is what limits the rate.
    loop_busy_ms_per_message: round(elu.active / MESSAGES, 3),
    loop_utilization: round(elu.utilization, 3),
    run_peak_rss_mib: round(runPeakRss / 2 ** 20, 1),
    at_peak_heap_total_mib: round(atPeak.heapTotal / 2 ** 20, 1),
    at_peak_heap_used_mib: round(atPeak.heapUsed / 2 ** 20, 1),
    at_peak_array_buffers_mib: round(atPeak.arrayBuffers / 2 ** 20, 1),
    at_peak_native_mib: round((atPeak.rss - atPeak.heapTotal - atPeak.external) / 2 ** 20, 1),
    peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 1),
  };
}

function gossipTotals(nodes: Node[]): GossipStats {
  const sum = emptyStats();
  for (const n of nodes) {
    const s = n.gossipStats;
    for (const k of Object.keys(sum) as (keyof GossipStats)[]) sum[k] += s[k];
  }
  return sum;
}

/** Link ends pushing eagerly, over every node (undefined for a node that does not report it). */
function eagerLinkEnds(nodes: Node[]): number | undefined {
  let sum = 0;
  for (const n of nodes)
    for (const p of n.listPeers()) {
      if (p.gossip === undefined) return undefined;
      if (p.gossip.eager) sum++;
    }
  return sum;
}

/** Warm-up rounds of 50 messages in 1 s: at most this many (the rooted tree settles within two beacon periods, 20 s). */
const WARMUP_ROUNDS = 40;

/**
 * Send messages until the broadcast tree has formed, so that the runs
 * measure the network as it runs, not as it starts: until the eager links
 * are a spanning tree (N - 1 links, each eager at both ends), or after
 * WARMUP_ROUNDS. Gossip/4 prunes its mesh with messages, gossip/5 drops
 * non-tree links a beacon period after its tree forms.
 */
async function warmUp(nodes: Node[], topo: Topology, mode: GossipMode): Promise<Record<string, unknown>> {
  const tree = 2 * (nodes.length - 1);
  let rounds = 0;
  let eager = eagerLinkEnds(nodes);
  // Flooding has no tree: one round, as before.
  const settling = (): boolean => mode === 'tree' && eager !== undefined && eager > tree;
  while (rounds < WARMUP_ROUNDS && (rounds === 0 || settling())) {
    await measure(nodes, topo, 50, 50);
    rounds++;
    eager = eagerLinkEnds(nodes);
  }
  return { warmup_messages: rounds * 50, eager_link_ends_at_start: eager ?? null };
}

/** The reference criteria for a sustained rate. */
function sustained(r: RunResult, rate: number): boolean {
  return r.delivered_fraction >= 0.999 && r.latency_last_p99_ms <= 1000 && r.publish_rate >= 0.95 * rate;
}

/** One mode's whole measurement, in this process. */
async function runMode(mode: GossipMode, nodeModule: string): Promise<Record<string, unknown>[]> {
  // The node under test: this tree's, or a baseline commit's (--baseline).
  const { Node: NodeClass } = (await import(nodeModule)) as { Node: typeof Node };
  const topo = JSON.parse(await readFile(TOPOLOGY, 'utf8')) as Topology;
  const dirs: string[] = [];
  const nodes: Node[] = [];
  const logger = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: false }));
  try {
    for (let i = 0; i < topo.nodes; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), `pheromones-bench-${i}-`));
      dirs.push(dataDir);
      nodes.push(
        new NodeClass({
          dataDir,
          network: 'bench',
          listenHost: '127.0.0.1',
          listenPort: 0,
          peers: [],
          maxInbound: 64,
          maxOutbound: 8,
          grpcAddress: '127.0.0.1:0',
          logger: logger.child({ node: i }),
          tuning: { gossipMode: mode },
          // The reference graph and nothing else: discovery must not add links.
          discovery: { autoConnect: 'off' },
          // Gossip alone: broadcasts are not also relayed as chain transactions.
          chain: { recordBroadcasts: false },
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
    const addresses = nodes.map((n) => n.listenAddress);
    await Promise.all(
      topo.edges.map(([x, y]) => nodes[x]!.addPeer(addresses[y]!, { persistent: true, timeoutMs: CONNECT_DEADLINE_MS })),
    );
    await waitConnected(nodes, topo);
    // Each node's self-lookup at start opens short-lived DHT sessions (a
    // handshake each); measure gossip once they are over, not beside them.
    await waitDiscoveryIdle(nodes);

    const common = { mode, nodes: nodes.length, edges: topo.edges.length, payload_bytes: PAYLOAD_BYTES };
    const results: Record<string, unknown>[] = [];
    const warmup = await warmUp(nodes, topo, mode);
    results.push({ ...common, ...warmup, ...(await measure(nodes, topo, LATENCY_RATE, LATENCY_MESSAGES)) });
    let best = 0;
    ladder: for (const rate of RATE_LADDER) {
      for (let attempt = 1; attempt <= REPEATS; attempt++) {
        const r = await measure(nodes, topo, rate, MESSAGES);
        const ok = sustained(r, rate);
        results.push({ ...common, ...r, attempt, sustained: ok });
        if (!ok) break ladder;
      }
      best = rate;
    }
    results.push({ ...common, ...(await measure(nodes, topo, undefined, MESSAGES)) });
    results.push({ ...common, run: 'summary', sustained_rate: best, peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 1) });
    return results;
  } finally {
    // Bounded: a node that cannot stop must not keep the benchmark from reporting.
    await Promise.race([Promise.allSettled(nodes.map((n) => n.stop())), sleep(15_000)]);
    await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

const OWN_NODE_MODULE = new URL('../src/node/node.js', import.meta.url).href;

/** Each mode in a child process of its own (its peak RSS is its own). */
function runChild(mode: GossipMode, nodeModule = OWN_NODE_MODULE): Promise<Record<string, unknown>[]> {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env, PHEROMONES_BENCH_MODE: mode, PHEROMONES_BENCH_NODE_MODULE: nodeModule };
    const child = fork(fileURLToPath(import.meta.url), [], { env });
    const results: Record<string, unknown>[] = [];
    child.on('message', (m) => results.push(m as Record<string, unknown>));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise(results) : reject(new Error(`${mode} benchmark exited with ${code}`))));
  });
}

/** Figures compared between the working tree and a baseline, per run of the same name. */
const COMPARED = ['loop_busy_ms_per_message', 'cpu_ms_per_message', 'run_peak_rss_mib', 'latency_last_p99_ms', 'amplification', 'publish_rate'] as const;

/** Working tree / baseline for each compared figure of each run both made. */
function ratios(mode: GossipMode, current: Record<string, unknown>[], base: Record<string, unknown>[], baseline: Baseline): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of current) {
    const key = `${String(r.run)}#${String(r.attempt ?? 1)}`;
    const b = base.find((x) => `${String(x.run)}#${String(x.attempt ?? 1)}` === key);
    if (b === undefined || r.run === 'summary') continue;
    const row: Record<string, unknown> = { mode, run: `ratio-${String(r.run)}`, attempt: r.attempt, baseline: baseline.commit.slice(0, 12) };
    for (const k of COMPARED) {
      const now = r[k];
      const then = b[k];
      if (typeof now === 'number' && typeof then === 'number' && then !== 0) row[k] = round(now / then, 3);
    }
    out.push(row);
  }
  return out;
}

export async function run(options: string[] = []): Promise<Record<string, unknown>[]> {
  const results: Record<string, unknown>[] = [];
  // PHEROMONES_BENCH_MODES=tree runs one mode only (while tuning).
  const only = process.env.PHEROMONES_BENCH_MODES?.split(',');
  const rev = optionValue(options, '--baseline');
  const baseline = rev === undefined ? undefined : await buildBaseline(rev);
  try {
    for (const mode of MODES) {
      if (only !== undefined && !only.includes(mode)) continue;
      if (baseline === undefined) {
        results.push(...(await runChild(mode)));
        continue;
      }
      // The baseline first, then this tree, back to back under the same load.
      const base = (await runChild(mode, baseline.nodeModule)).map((r) => ({ ...r, version: baseline.commit.slice(0, 12) }));
      const current = (await runChild(mode)).map((r) => ({ ...r, version: 'working tree' }));
      results.push(...base, ...current, ...ratios(mode, current, base, baseline));
    }
  } finally {
    await baseline?.remove();
  }
  return results;
}

const childMode = process.env.PHEROMONES_BENCH_MODE;
if (childMode !== undefined && process.send !== undefined && (MODES as readonly string[]).includes(childMode)) {
  const send = process.send.bind(process);
  const nodeModule = process.env.PHEROMONES_BENCH_NODE_MODULE ?? OWN_NODE_MODULE;
  for (const r of await runMode(childMode as GossipMode, nodeModule)) await new Promise((ok) => send(r, undefined, {}, ok));
  // Lingering sockets or log streams must not keep the child alive.
  process.exit(0);
}
