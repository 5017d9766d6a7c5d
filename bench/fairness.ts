/**
 * Fairness workload: gossip latency between two daemons while one downloads
 * 2,000 large regtest blocks from the other over the same session.
 *
 * Node A holds the chain (BLOCKS blocks of TXS_PER_BLOCK transactions with
 * PAYLOAD_BYTES payloads, so the 500-block replies are cut at the 2 MiB reply
 * budget); node B starts fresh with A as its peer and syncs. From the moment
 * B starts syncing, both publish a small gossip message every PUBLISH_EVERY_MS
 * through the gRPC API, and keep going for IDLE_MS after the sync ended.
 * Latency is publish (the bench's clock, just before the Broadcast call) to
 * delivery at the other node (its received_at_ms): split into messages
 * published during the sync and after it, per direction. Target: p99 under
 * 200 ms during the sync. Real processes (two daemons on the machine's
 * cores), as in production; `npm run bench -- fairness`. Each daemon's
 * event-loop delay over the sync (its /metrics, prom-client's histogram,
 * reset by each scrape) says how much of the latency is the nodes being
 * busy rather than frames waiting in a send queue.
 */
import { buildRegtestChain, apiOf, type NodeApiClients } from '../test/integration/chain-harness.js';
import { DaemonSet, type Daemon, type LogRecord } from '../test/helpers/daemon.js';
import { scrape } from '../test/helpers/metrics.js';

const BLOCKS = 2_000;
const TXS_PER_BLOCK = 2;
const PAYLOAD_BYTES = 16_000;
const TOPIC = 'bench/fairness';
const PUBLISH_EVERY_MS = 20;
const IDLE_MS = 3_000;
const SYNC_DEADLINE_MS = 300_000;
const REGTEST = ['--network', 'regtest', '--no-stdin', '--metrics', ':0'];

interface Published {
  at: number;
  from: 'A' | 'B';
  duringSync: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summary(latencies: number[]): Record<string, number> {
  const s = [...latencies].sort((x, y) => x - y);
  return { messages: s.length, p50_ms: Math.round(percentile(s, 50)), p99_ms: Math.round(percentile(s, 99)), max_ms: Math.round(s.at(-1) ?? Number.NaN) };
}

const isProgress = (r: LogRecord): boolean => typeof r.msg === 'string' && r.msg.startsWith('chain sync: height');
const syncDone = (d: Daemon): LogRecord | undefined => d.logs.find((r) => isProgress(r) && r.height === BLOCKS);

async function metricsUrl(d: Daemon): Promise<string> {
  return (await d.waitForLog((r) => r.msg === 'metrics listening', 15_000, '"metrics listening"')).url as string;
}

/** Event-loop delay since the previous scrape (the scrape resets prom-client's histogram). */
async function loopDelay(url: string): Promise<{ p99_ms: number; max_ms: number }> {
  const s = await scrape(url);
  return { p99_ms: Math.round(s.value('nodejs_eventloop_lag_p99_seconds') * 1000), max_ms: Math.round(s.value('nodejs_eventloop_lag_max_seconds') * 1000) };
}

/** Delivery times of this bench's messages in a node's log, by payload ("A 17"). */
async function deliveries(api: NodeApiClients): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let after = 0n;
  for (;;) {
    const page = await api.messages.listMessages({ afterSeq: after, limit: 1000, topic: TOPIC });
    if (page.messages.length === 0) return out;
    for (const m of page.messages) out.set(Buffer.from(m.payload).toString('utf8'), Number(m.receivedAtMs));
    after = page.nextAfterSeq;
  }
}

export async function run(): Promise<Record<string, unknown>[]> {
  const net = new DaemonSet();
  try {
    const dir = await net.tempDir();
    const tBuild = performance.now();
    await buildRegtestChain(dir, BLOCKS, TXS_PER_BLOCK, PAYLOAD_BYTES);
    const buildSeconds = (performance.now() - tBuild) / 1000;
    const a = await net.start({ name: 'A', dataDir: dir, args: REGTEST });
    const apiA = await apiOf(a);
    const b = await net.start({ name: 'B', peers: [a.address], args: REGTEST });
    const apiB = await apiOf(b);
    try {
      const started = await b.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('chain sync from'), 60_000, 'B starts syncing');
      const urls = await Promise.all([metricsUrl(a), metricsUrl(b)]);
      await Promise.all(urls.map(loopDelay));
      let loop: { p99_ms: number; max_ms: number }[] | undefined;
      const published = new Map<string, Published>();
      const calls: Promise<unknown>[] = [];
      let n = 0;
      let publishFailed = 0;
      let doneAt: number | undefined;
      const deadline = Date.now() + SYNC_DEADLINE_MS;
      // Paced by the clock, not by the calls: a slow Broadcast must not slow the publishing down.
      for (let next = Date.now(); ; next += PUBLISH_EVERY_MS) {
        if (doneAt === undefined) {
          doneAt = syncDone(b)?.time as number | undefined;
          if (doneAt !== undefined) loop = await Promise.all(urls.map(loopDelay));
        }
        if (doneAt !== undefined && Date.now() > doneAt + IDLE_MS) break;
        if (Date.now() > deadline) throw new Error(`B did not sync ${BLOCKS} blocks in ${SYNC_DEADLINE_MS / 1000} s`);
        for (const [from, api] of [['A', apiA], ['B', apiB]] as const) {
          const payload = `${from} ${n}`;
          published.set(payload, { at: Date.now(), from, duringSync: doneAt === undefined });
          calls.push(
            api.messages.broadcast({ topic: TOPIC, payload: new TextEncoder().encode(payload) }).then(
              () => undefined,
              () => {
                // Counted, not fatal: a call that fails under load is part of what is measured.
                publishFailed++;
                published.delete(payload);
              },
            ),
          );
        }
        n++;
        await new Promise((r) => setTimeout(r, Math.max(0, next + PUBLISH_EVERY_MS - Date.now())));
      }
      await Promise.all(calls);
      // Give the last ones time to arrive: the publishing stopped IDLE_MS after the sync.
      await new Promise((r) => setTimeout(r, 1_000));
      const [onA, onB] = await Promise.all([deliveries(apiA), deliveries(apiB)]);
      const latency = (to: Map<string, number>, from: 'A' | 'B', duringSync: boolean): { latencies: number[]; lost: number } => {
        const latencies: number[] = [];
        let lost = 0;
        for (const [payload, p] of published) {
          if (p.from !== from || p.duringSync !== duringSync) continue;
          const at = to.get(payload);
          if (at === undefined) lost++;
          else latencies.push(at - p.at);
        }
        return { latencies, lost };
      };
      const syncSeconds = ((doneAt ?? Number.NaN) - (started.time as number)) / 1000;
      const results: Record<string, unknown>[] = [];
      for (const duringSync of [true, false]) {
        const ab = latency(onB, 'A', duringSync);
        const ba = latency(onA, 'B', duringSync);
        results.push({
          name: duringSync ? 'gossip-during-sync' : 'gossip-after-sync',
          blocks: BLOCKS,
          txs_per_block: TXS_PER_BLOCK,
          payload_bytes: PAYLOAD_BYTES,
          sync_seconds: +syncSeconds.toFixed(2),
          chain_build_seconds: +buildSeconds.toFixed(1),
          publish_every_ms: PUBLISH_EVERY_MS,
          ...summary([...ab.latencies, ...ba.latencies]),
          lost: ab.lost + ba.lost,
          publish_failed: publishFailed,
          serving_to_syncing: summary(ab.latencies),
          syncing_to_serving: summary(ba.latencies),
          ...(duringSync ? { target_p99_ms: 200, event_loop_delay_serving: loop?.[0], event_loop_delay_syncing: loop?.[1] } : {}),
          peer_disconnections: a.logs.filter((r) => r.msg === 'peer disconnected').length,
        });
      }
      return results;
    } finally {
      apiA.channel.close();
      apiB.channel.close();
    }
  } finally {
    await net.cleanup();
  }
}
