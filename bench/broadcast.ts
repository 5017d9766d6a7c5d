/**
 * Broadcast workload (W2): 32 nodes in this process on the reference graph
 * (/work/shared/bench/w2-topology-seed1.json, each node dials 3 others), node
 * 0 publishes 2,000 messages of 1 KiB. Measured as the reference figures were
 * (see ../shared/bench/README.md):
 * - delivered fraction: share of messages that reached all 31 other nodes;
 * - msgs/s: messages fully delivered per second, first publish to last delivery;
 * - latency to the last node: publish to delivery at the 31st node, p50 and p99;
 * - amplification: bytes written to every TCP socket of the process during the
 *   run / (messages x 31 x 1 KiB).
 * Two runs on the same network: a fixed publish rate, then as fast as the
 * publisher can (a bounded window of broadcasts in flight).
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Node } from '../src/node/node.js';

/** From dist/bench/ where this runs. */
const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const TOPOLOGY = resolve(REPO_ROOT, '../shared/bench/w2-topology-seed1.json');

const MESSAGES = 2_000;
const PAYLOAD_BYTES = 1_024;
const FIXED_RATE = 200;
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
  mode: string;
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
    if (missing === 0) return;
    if (Date.now() > deadline) throw new Error(`${missing} links still missing after ${CONNECT_DEADLINE_MS} ms`);
    await sleep(50);
  }
}

async function measure(nodes: Node[], topo: Topology, mode: 'fixed-rate' | 'max-rate'): Promise<RunResult> {
  const topic = `bench-${mode}`;
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

  const start = nowMs();
  let issueEnd = start;
  if (mode === 'fixed-rate') {
    const interval = 1000 / FIXED_RATE;
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
  for (const off of offs) off();

  const bytes = bytesWritten(nodes) - bytesBefore;
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
  return {
    mode,
    nodes: nodes.length,
    edges: topo.edges.length,
    messages: MESSAGES,
    payload_bytes: PAYLOAD_BYTES,
    target_rate: mode === 'fixed-rate' ? FIXED_RATE : null,
    // Rate of broadcast() calls (frames leave at once), and of their local logging completing.
    publish_rate: round(MESSAGES / ((issueEnd - start) / 1000), 1),
    publish_logged_rate: round(MESSAGES / ((publishEnd - start) / 1000), 1),
    delivered_fraction: round(fullyDelivered / MESSAGES, 4),
    msgs_per_sec: round(fullyDelivered / seconds, 1),
    latency_last_p50_ms: round(percentile(latencies, 50)),
    latency_last_p99_ms: round(percentile(latencies, 99)),
    amplification: round(bytes / (MESSAGES * receivers * PAYLOAD_BYTES), 3),
    bytes_written: bytes,
    // A session that dropped mid-run would make the byte count incomplete.
    sessions_stable: sessionsBefore === sessionsAfter,
    peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 1),
  };
}

export async function run(): Promise<Record<string, unknown>[]> {
  const topo = JSON.parse(await readFile(TOPOLOGY, 'utf8')) as Topology;
  const dirs: string[] = [];
  const nodes: Node[] = [];
  const logger = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: false }));
  try {
    for (let i = 0; i < topo.nodes; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), `pheromones-bench-${i}-`));
      dirs.push(dataDir);
      nodes.push(
        new Node({
          dataDir,
          network: 'bench',
          listenHost: '127.0.0.1',
          listenPort: 0,
          peers: [],
          maxInbound: 64,
          maxOutbound: 8,
          grpcAddress: '127.0.0.1:0',
          logger: logger.child({ node: i }),
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
    const addresses = nodes.map((n) => n.listenAddress);
    await Promise.all(
      topo.edges.map(([x, y]) => nodes[x]!.addPeer(addresses[y]!, { persistent: true, timeoutMs: CONNECT_DEADLINE_MS })),
    );
    await waitConnected(nodes, topo);

    const results: Record<string, unknown>[] = [];
    results.push(await measure(nodes, topo, 'fixed-rate'));
    results.push(await measure(nodes, topo, 'max-rate'));
    return results;
  } finally {
    // Bounded: a node that cannot stop must not keep the benchmark from reporting.
    await Promise.race([Promise.allSettled(nodes.map((n) => n.stop())), sleep(15_000)]);
    await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}
