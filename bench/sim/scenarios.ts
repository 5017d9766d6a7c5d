/**
 * The simulation's scenarios (docs/scale.md): bootstrap, broadcast, churn,
 * partition. Each builds a fresh network of real Nodes on the in-memory
 * transport and the virtual clock, and returns one result object.
 */
import type { NodeTuning } from '../../src/node/config.js';
import { VirtualClock } from './clock.js';
import { seededRandom } from './latency.js';
import { diameter, peakRssMiB, percentile, round, sample, treeShape } from './measure.js';
import { SIM_PORT, SimCluster, hostOf, type ClusterOptions, type SimNode } from './network.js';

export interface ScenarioOptions {
  nodes: number;
  seed: number;
  /** FIND_NODE lookups sampled. */
  lookups: number;
  /** Broadcast: messages, rate (msgs/s of simulated time), payload bytes. */
  messages: number;
  rate: number;
  payloadBytes: number;
  /** Node tuning for every node (e.g. gossipGraftTimeoutMs); the defaults otherwise. */
  tuning: Partial<NodeTuning>;
}

export type Result = Record<string, unknown>;

export const SEEDS = 3;
const TOPIC = 'sim';
/** Nodes join spread over this long (simulated): a thundering herd of thousands at t=0 is not how networks start. */
const JOIN_WINDOW_MS = 60_000;
/** How long after the last join a node may take to fill its outbound slots. */
const SETTLE_MS = 120_000;
const LOOKUP_TIMEOUT_MS = 10_000;
/** After the last message, how long stragglers may still arrive (simulated). */
export const DRAIN_MS = 30_000;

/** One simulated run: the clock (installed), the cluster and what is measured on the way. */
export class Sim {
  readonly clock = new VirtualClock();
  readonly cluster: SimCluster;
  readonly random: () => number;
  readonly wallStart = performance.now();
  readonly rssBefore: number;
  /** Outbound sessions per node, and when each first had maxOutbound of them. */
  private readonly outbound = new Map<number, number>();
  readonly reachedTargetMs = new Map<number, number>();
  readonly target: number;
  /** Math.random as it was before this run replaced it. */
  private readonly processRandom: () => number;

  constructor(
    readonly o: ScenarioOptions,
    clusterOptions: Partial<ClusterOptions> = {},
  ) {
    this.rssBefore = process.memoryUsage().rss / 1024 / 1024;
    this.clock.install();
    // Like the clock, the process's Math.random (peer choices in discovery,
    // reconnect jitter) is the run's own: one seed, one run.
    this.processRandom = Math.random;
    Math.random = seededRandom(o.seed * 104_729 + 3);
    this.random = seededRandom(o.seed * 7919 + 1);
    this.cluster = new SimCluster(this.clock, { seed: o.seed, tuning: o.tuning, ...clusterOptions });
    this.target = clusterOptions.maxOutbound ?? 8;
  }

  seedAddresses(): string[] {
    return Array.from({ length: SEEDS }, (_, i) => `${hostOf(i)}:${SIM_PORT}`);
  }

  async addNode(chain: { mine?: boolean } = {}): Promise<SimNode> {
    const i = this.cluster.nodes.length;
    const seeds = i < SEEDS ? this.seedAddresses().filter((_, j) => j !== i) : this.seedAddresses();
    const n = await this.cluster.add(seeds, chain);
    this.outbound.set(n.index, 0);
    n.node.onPeerEvent((ev) => {
      if (ev.type !== 'connected' && ev.type !== 'disconnected') return;
      if (ev.peer.direction !== 'outbound') return;
      const c = (this.outbound.get(n.index) ?? 0) + (ev.type === 'connected' ? 1 : -1);
      this.outbound.set(n.index, c);
      if (c >= this.target && !this.reachedTargetMs.has(n.index)) this.reachedTargetMs.set(n.index, this.clock.now() - n.startedAtMs);
    });
    return n;
  }

  /** Start `count` nodes spread over `windowMs` of simulated time. */
  async join(count: number, windowMs: number, chainFor: (i: number) => { mine?: boolean } = () => ({})): Promise<void> {
    const t0 = this.clock.now();
    for (let k = 0; k < count; k++) {
      await this.clock.runUntil(t0 + Math.floor((k * windowMs) / count));
      await this.addNode(chainFor(this.cluster.nodes.length));
    }
  }

  /** Bootstrap: seeds, then everyone else; run until all have their outbound slots filled (or SETTLE_MS). */
  async bootstrap(chainFor?: (i: number) => { mine?: boolean }): Promise<number> {
    await this.join(this.o.nodes, JOIN_WINDOW_MS, chainFor);
    const lastJoin = this.clock.now();
    const live = (): SimNode[] => this.cluster.live();
    await this.clock.runUntilTrue(() => live().every((n) => this.reachedTargetMs.has(n.index)), SETTLE_MS);
    return this.clock.now() - lastJoin;
  }

  targetStats(): Result {
    const secs = this.cluster.live().map((n) => (this.reachedTargetMs.get(n.index) ?? Number.POSITIVE_INFINITY) / 1000);
    const reached = secs.filter(Number.isFinite);
    return {
      targetPeers: this.target,
      reachedTarget: round(reached.length / secs.length, 4),
      secondsToTargetPeersP50: round(percentile(secs, 50), 2),
      secondsToTargetPeersP99: round(percentile(secs, 99), 2),
    };
  }

  /** FIND_NODE from random live nodes for random other live nodes. */
  async lookups(count: number): Promise<{ lookupSuccess: number; lookupHopsP50: number; lookupHopsP99: number; lookupQueriedP50: number; lookupHopsMean: number; lookupFailures: Record<string, number> }> {
    const live = this.cluster.live();
    const results: { ok: boolean; hops: number; queried: number }[] = [];
    const failures: Record<string, number> = {};
    let pending = 0;
    for (let k = 0; k < count; k++) {
      const [from, to] = sample(live, 2, this.random);
      if (from === undefined || to === undefined) break;
      pending++;
      from.node.discovery!.findNode(to.nodeId, LOOKUP_TIMEOUT_MS).then(
        (r) => results.push({ ok: r.nodeId === to.nodeId && r.address === to.address, hops: r.hops, queried: r.queried }),
        (err: Error & { kind?: string }) => {
          results.push({ ok: false, hops: Number.NaN, queried: 0 });
          failures[err.kind ?? 'error'] = (failures[err.kind ?? 'error'] ?? 0) + 1;
        },
      ).finally(() => pending--);
    }
    await this.clock.runUntilTrue(() => pending === 0, LOOKUP_TIMEOUT_MS + 5_000);
    const ok = results.filter((r) => r.ok);
    return {
      lookupSuccess: round(ok.length / Math.max(1, count), 4),
      lookupHopsP50: percentile(ok.map((r) => r.hops), 50),
      lookupHopsP99: percentile(ok.map((r) => r.hops), 99),
      lookupQueriedP50: percentile(ok.map((r) => r.queried), 50),
      lookupHopsMean: round(ok.reduce((sum, r) => sum + r.hops, 0) / Math.max(1, ok.length), 3),
      lookupFailures: failures,
    };
  }

  resources(): Result {
    const peak = peakRssMiB();
    const nodes = this.cluster.nodes.length;
    return {
      clock: 'virtual',
      transport: 'in-memory, no handshake crypto or record sealing (bytes counted as sealed records)',
      simulatedSeconds: round((this.clock.now() - this.startMs) / 1000, 1),
      wallSeconds: round((performance.now() - this.wallStart) / 1000, 1),
      cpuSeconds: round((process.cpuUsage().user + process.cpuUsage().system) / 1e6, 1),
      peakRssMiB: round(peak, 0),
      memoryPerNodeKiB: round(((peak - this.rssBefore) * 1024) / Math.max(1, nodes), 0),
      timerEvents: this.clock.eventsRun,
    };
  }

  private readonly startMs = this.clock.now();

  /** Stop every node and give the process its real clock back. */
  async close(): Promise<void> {
    // The nodes' stop() waits on (simulated) timers, so the clock runs until they are done.
    let done = false;
    const stopping = this.cluster.stopAll().finally(() => (done = true));
    await this.clock.runUntilTrue(() => done, 60_000);
    this.clock.uninstall();
    Math.random = this.processRandom;
    await stopping;
  }
}

/** Per-message delivery tracking over every node's onMessage. */
export class DeliveryTracker {
  readonly publishedMs: number[] = [];
  readonly origin: number[] = [];
  /** Nodes that delivered message i, and when the last one did. */
  readonly deliveredBy: Set<number>[] = [];
  readonly lastMs: number[] = [];
  /** Deliveries by the hop count they arrived with (the last bin holds 255 and more). */
  readonly hops = new Float64Array(256);
  private readonly subscribed = new Set<number>();

  constructor(private readonly sim: Sim) {}

  watch(n: SimNode): void {
    if (this.subscribed.has(n.index)) return;
    this.subscribed.add(n.index);
    n.node.onMessage((m) => {
      if (m.topic !== TOPIC || m.payload.length < 4) return;
      const i = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getUint32(0);
      const by = this.deliveredBy[i];
      if (by === undefined) return;
      by.add(n.index);
      this.hops[Math.min(255, m.hops)]!++;
      this.lastMs[i] = this.sim.clock.now();
    });
  }

  publish(from: SimNode, payloadBytes: number): number {
    const i = this.publishedMs.length;
    const payload = new Uint8Array(payloadBytes);
    new DataView(payload.buffer).setUint32(0, i);
    for (let k = 4; k < payload.length; k++) payload[k] = (k * 31 + i) & 0xff;
    this.publishedMs.push(this.sim.clock.now());
    this.origin.push(from.index);
    this.deliveredBy.push(new Set());
    this.lastMs.push(Number.NaN);
    void from.node.broadcast(TOPIC, payload).catch(() => undefined);
    return i;
  }
}

export function gossipTotals(cluster: SimCluster): {
  grafts: number;
  prunes: number;
  duplicates: number;
  missingDropped: number;
  recovered: number;
  undecided: number;
  onLazy: number;
  announced: number;
} {
  let announced = 0;
  let undecided = 0;
  let onLazy = 0;
  let grafts = 0;
  let duplicates = 0;
  let prunes = 0;
  let missingDropped = 0;
  let recovered = 0;
  for (const n of cluster.nodes) {
    const s = n.node.gossipStats;
    grafts += s.graftsSent;
    prunes += s.prunesSent;
    duplicates += s.duplicates;
    missingDropped += s.missingDropped;
    recovered += s.recovered;
    undecided += s.duplicatesUndecided;
    onLazy += s.duplicatesOnLazy;
    announced += s.ihaveSent;
  }
  return { grafts, prunes, duplicates, missingDropped, recovered, undecided, onLazy, announced };
}

const GOSSIP_KINDS = ['gossip', 'gossipIhave', 'gossipGraft', 'gossipPrune'];

/** The rooted tree counts as settled after this long with one root and no root or parent change: two beacon periods, by which links outside it have stopped pushing. */
const TREE_QUIET_MS = 20_000;
/** Longest wait for the tree to settle before the messages start. */
const TREE_SETTLE_MAX_MS = 300_000;

/** The 99th percentile and the largest of a histogram of hop counts. */
function hopStats(hist: Float64Array): { deliveryHopsP99: number; deliveryHopsMax: number } {
  const total = hist.reduce((a, b) => a + b, 0);
  let seen = 0;
  let p99 = 0;
  let max = 0;
  for (let h = 0; h < hist.length; h++) {
    if (hist[h]! === 0) continue;
    max = h;
    if (seen < 0.99 * total) p99 = h;
    seen += hist[h]!;
  }
  return { deliveryHopsP99: p99, deliveryHopsMax: max };
}

/** Root and parent changes over every live node, and how many roots they follow. */
function treeChanges(cluster: SimCluster): { changes: number; roots: number } {
  let changes = 0;
  const roots = new Set<string>();
  for (const n of cluster.live()) {
    const t = n.node.gossipTree;
    if (t === undefined) continue;
    changes += t.rootChanges + t.parentChanges;
    roots.add(t.root);
  }
  return { changes, roots: roots.size };
}

/**
 * Run until the rooted tree has settled (one root, no change for
 * TREE_QUIET_MS), at most TREE_SETTLE_MAX_MS; ms waited. A flooding
 * network, with no tree, is settled at once.
 */
async function settleTree(sim: Sim): Promise<number> {
  const start = sim.clock.now();
  let last = treeChanges(sim.cluster);
  let quietSince = start;
  while (sim.clock.now() - start < TREE_SETTLE_MAX_MS) {
    if (last.roots <= 1 && sim.clock.now() - quietSince >= TREE_QUIET_MS) break;
    await sim.clock.runFor(1_000);
    const now = treeChanges(sim.cluster);
    if (now.changes !== last.changes || now.roots > 1) quietSince = sim.clock.now();
    last = now;
  }
  return sim.clock.now() - start;
}

export async function bootstrapScenario(o: ScenarioOptions): Promise<Result> {
  const sim = new Sim(o);
  try {
    const settleMs = await sim.bootstrap();
    const early = await sim.lookups(o.lookups);
    // And once the routing tables have had a minute (refreshes, more lookups) after the last join.
    await sim.clock.runFor(60_000);
    const lookups = await sim.lookups(o.lookups);
    const d = diameter(sim.cluster, 32, sim.random);
    return {
      scenario: 'bootstrap',
      nodes: o.nodes,
      ...sim.targetStats(),
      settledAfterLastJoinSeconds: round(settleMs / 1000, 1),
      lookupSuccessAtSettle: early.lookupSuccess,
      lookupHopsP50AtSettle: early.lookupHopsP50,
      ...lookups,
      lookups: o.lookups,
      diameterHops: d.hops,
      connected: d.connected,
      ...sim.resources(),
    };
  } finally {
    await sim.close();
  }
}

export async function broadcastScenario(o: ScenarioOptions): Promise<Result> {
  const sim = new Sim(o);
  try {
    await sim.bootstrap();
    // Let the bootstrap's lookups and peer exchange die down first, and the broadcast tree form.
    await sim.clock.runFor(30_000);
    const settledMs = await settleTree(sim);
    const tree0 = treeChanges(sim.cluster);
    const d = diameter(sim.cluster, 32, sim.random);
    const tracker = new DeliveryTracker(sim);
    const live = sim.cluster.live();
    for (const n of live) tracker.watch(n);
    const bytes0 = sim.cluster.net.traffic.bytes;
    const kinds0 = new Map(sim.cluster.net.traffic.bytesByKind);
    const stats0 = gossipTotals(sim.cluster);
    const gap = 1000 / o.rate;
    const t0 = sim.clock.now();
    for (let i = 0; i < o.messages; i++) {
      await sim.clock.runUntil(t0 + Math.floor(i * gap));
      tracker.publish(live[Math.floor(sim.random() * live.length)]!, o.payloadBytes);
    }
    const all = (): boolean => tracker.deliveredBy.every((s) => s.size === live.length);
    await sim.clock.runUntilTrue(all, DRAIN_MS);
    const bytes = sim.cluster.net.traffic.bytes - bytes0;
    let gossipBytes = 0;
    for (const k of GOSSIP_KINDS) gossipBytes += (sim.cluster.net.traffic.bytesByKind.get(k) ?? 0) - (kinds0.get(k) ?? 0);
    const ideal = o.messages * (live.length - 1) * o.payloadBytes;
    // Frame bytes by envelope kind (records' own headers and tags are in the total only).
    const amplificationByKind: Record<string, number> = {};
    for (const [k, v] of sim.cluster.net.traffic.bytesByKind) {
      const share = round((v - (kinds0.get(k) ?? 0)) / ideal, 4);
      if (share > 0) amplificationByKind[k] = share;
    }
    const complete = tracker.deliveredBy.filter((s) => s.size === live.length).length;
    const latencies = tracker.lastMs.map((t, i) => t - tracker.publishedMs[i]!).filter(Number.isFinite);
    const stats = gossipTotals(sim.cluster);
    const tree1 = treeChanges(sim.cluster);
    return {
      scenario: 'broadcast',
      nodes: o.nodes,
      messages: o.messages,
      ratePerSecond: o.rate,
      payloadBytes: o.payloadBytes,
      delivered: round(complete / o.messages, 4),
      deliveredCopies: round(tracker.deliveredBy.reduce((s, x) => s + x.size, 0) / (o.messages * live.length), 5),
      amplification: round(bytes / ideal, 3),
      gossipAmplification: round(gossipBytes / ideal, 3),
      amplificationByKind,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      diameterMs: d.latencyMs,
      diameterHops: d.hops,
      connected: d.connected,
      grafts: stats.grafts - stats0.grafts,
      prunes: stats.prunes - stats0.prunes,
      duplicatesPerMessage: round((stats.duplicates - stats0.duplicates) / o.messages, 2),
      // Of those: copies on links lazy at the receiving end, and copies whose cycle the path weights could not decide.
      duplicatesOnLazyPerMessage: round((stats.onLazy - stats0.onLazy) / o.messages, 2),
      duplicatesUndecidedPerMessage: round((stats.undecided - stats0.undecided) / o.messages, 2),
      // Ids announced on lazy links, per node and message.
      announcementsPerNodeMessage: round((stats.announced - stats0.announced) / (o.messages * live.length), 2),
      // Simulated seconds the tree took to settle after the 30 s that follow the bootstrap, and its root and parent changes while the messages ran.
      treeSettleSeconds: round(settledMs / 1000, 1),
      treeChangesDuringMessages: tree1.changes - tree0.changes,
      // Hops the deliveries had travelled: a message is relayed no further than the node's ttl (16 by default).
      ...hopStats(tracker.hops),
      ...treeShape(sim.cluster),
      ...sim.targetStats(),
      ...sim.resources(),
    };
  } finally {
    await sim.close();
  }
}

/** Every simulated minute for `minutes`, `fraction` of the nodes are killed and as many join, while broadcasting. */
export async function churnScenario(o: ScenarioOptions & { minutes: number; fraction: number }): Promise<Result> {
  const sim = new Sim(o);
  try {
    await sim.bootstrap();
    await sim.clock.runFor(30_000);
    const tracker = new DeliveryTracker(sim);
    for (const n of sim.cluster.live()) tracker.watch(n);
    const stats0 = gossipTotals(sim.cluster);
    const perMinute = Math.max(1, Math.round(o.nodes * o.fraction));
    const gap = 1000 / o.rate;
    const t0 = sim.clock.now();
    const end = t0 + o.minutes * 60_000;
    /** Per node: killed at (ms), or undefined while alive. */
    const killedAt = new Map<number, number>();
    // A schedule of kills, joins and publications, merged in time order.
    type Step = { at: number; what: 'kill' | 'join' | 'publish' };
    const steps: Step[] = [];
    for (let m = 0; m < o.minutes; m++) {
      for (let k = 0; k < perMinute; k++) {
        steps.push({ at: t0 + m * 60_000 + Math.floor((k * 60_000) / perMinute), what: 'kill' });
        steps.push({ at: t0 + m * 60_000 + Math.floor(((k + 0.5) * 60_000) / perMinute), what: 'join' });
      }
    }
    for (let at = t0; at < end; at += gap) steps.push({ at: Math.floor(at), what: 'publish' });
    steps.sort((a, b) => a.at - b.at);
    /** For each message: the nodes running (with a session) when it was published. */
    const eligibleAtPublish: number[][] = [];
    for (const s of steps) {
      await sim.clock.runUntil(s.at);
      if (s.what === 'kill') {
        // Seeds stay: they are the fixed entry points new nodes bootstrap from.
        const victims = sim.cluster.live().filter((n) => n.index >= SEEDS);
        const v = victims[Math.floor(sim.random() * victims.length)];
        if (v !== undefined) {
          sim.cluster.kill(v);
          killedAt.set(v.index, sim.clock.now());
        }
      } else if (s.what === 'join') {
        tracker.watch(await sim.addNode());
      } else {
        // Origins among the nodes with a session: a node that has not connected yet cannot send anything anywhere.
        const running = sim.cluster.live().filter((n) => n.node.listPeers().length > 0);
        eligibleAtPublish.push(running.map((n) => n.index));
        tracker.publish(running[Math.floor(sim.random() * running.length)]!, o.payloadBytes);
      }
    }
    await sim.clock.runFor(DRAIN_MS);
    // A message counts as delivered when every node that was running with a session when it was
    // published, and still alive DRAIN_MS later, delivered it.
    let complete = 0;
    let copies = 0;
    let expected = 0;
    // Who missed messages: how long each had been running when the message was published.
    const missedAgesSeconds: number[] = [];
    for (let i = 0; i < tracker.publishedMs.length; i++) {
      const until = tracker.publishedMs[i]! + DRAIN_MS;
      const stayed = eligibleAtPublish[i]!.filter((idx) => (killedAt.get(idx) ?? Number.POSITIVE_INFINITY) > until);
      const by = tracker.deliveredBy[i]!;
      const got = stayed.filter((idx) => by.has(idx)).length;
      copies += got;
      expected += stayed.length;
      if (got === stayed.length) complete++;
      for (const idx of stayed) if (!by.has(idx)) missedAgesSeconds.push((tracker.publishedMs[i]! - sim.cluster.nodes[idx]!.startedAtMs) / 1000);
    }
    const stats = gossipTotals(sim.cluster);
    const lookups = await sim.lookups(o.lookups);
    return {
      scenario: 'churn',
      nodes: o.nodes,
      minutes: o.minutes,
      churnPerMinute: perMinute,
      messages: tracker.publishedMs.length,
      ratePerSecond: o.rate,
      delivered: round(complete / Math.max(1, tracker.publishedMs.length), 4),
      deliveredCopies: round(copies / Math.max(1, expected), 5),
      grafts: stats.grafts - stats0.grafts,
      prunes: stats.prunes - stats0.prunes,
      recovered: stats.recovered - stats0.recovered,
      missingDropped: stats.missingDropped - stats0.missingDropped,
      missedPairs: missedAgesSeconds.length,
      missedByNodesUnder60s: missedAgesSeconds.filter((a) => a < 60).length,
      missedNodeAgeP50Seconds: missedAgesSeconds.length === 0 ? null : round(percentile(missedAgesSeconds, 50), 1),
      ...lookups,
      ...sim.targetStats(),
      ...sim.resources(),
    };
  } finally {
    await sim.close();
  }
}
