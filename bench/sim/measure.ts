/** Small statistics and graph helpers for the simulation's reports. */
import type { SimCluster, SimNode } from './network.js';
import { linkWeight, pairHash } from '../../src/gossip/link-weight.js';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function round(n: number, digits = 3): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Least-squares fit y = a + b·x; returns the slope b and intercept a. */
export function linearFit(xs: number[], ys: number[]): { slope: number; intercept: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { slope, intercept: my - slope * mx };
}

/** Pick k distinct elements at random. */
export function sample<T>(items: readonly T[], k: number, random: () => number): T[] {
  const a = [...items];
  const out: T[] = [];
  while (out.length < k && a.length > 0) {
    const i = Math.floor(random() * a.length);
    out.push(a[i]!);
    a[i] = a[a.length - 1]!;
    a.pop();
  }
  return out;
}

/** The live session graph: for each live node, its neighbours' indices and link latencies. */
export function sessionGraph(cluster: SimCluster): Map<number, { to: number; ms: number }[]> {
  const byId = new Map<string, SimNode>();
  for (const n of cluster.live()) byId.set(n.nodeId, n);
  const g = new Map<number, { to: number; ms: number }[]>();
  for (const n of cluster.live()) {
    const edges: { to: number; ms: number }[] = [];
    for (const p of n.node.listPeers()) {
      const m = byId.get(p.nodeId);
      if (m !== undefined) edges.push({ to: m.index, ms: cluster.net.latency.oneWayMs(n.host, m.host) });
    }
    g.set(n.index, edges);
  }
  return g;
}

/** Min-heap of (key, value) pairs. */
class PairHeap {
  private readonly k: number[] = [];
  private readonly v: number[] = [];
  get size(): number {
    return this.k.length;
  }
  push(key: number, value: number): void {
    const { k, v } = this;
    k.push(key);
    v.push(value);
    let i = k.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (k[p]! <= k[i]!) break;
      [k[p], k[i]] = [k[i]!, k[p]!];
      [v[p], v[i]] = [v[i]!, v[p]!];
      i = p;
    }
  }
  pop(): [number, number] {
    const { k, v } = this;
    const top: [number, number] = [k[0]!, v[0]!];
    const lk = k.pop()!;
    const lv = v.pop()!;
    if (k.length > 0) {
      k[0] = lk;
      v[0] = lv;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < k.length && k[l]! < k[m]!) m = l;
        if (r < k.length && k[r]! < k[m]!) m = r;
        if (m === i) break;
        [k[m], k[i]] = [k[i]!, k[m]!];
        [v[m], v[i]] = [v[i]!, v[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** Shortest latency and hop distances from `src` to every node (Dijkstra on latency; BFS on hops). */
function distancesFrom(g: Map<number, { to: number; ms: number }[]>, src: number): { ms: Map<number, number>; hops: Map<number, number> } {
  const ms = new Map<number, number>([[src, 0]]);
  const done = new Set<number>();
  const heap = new PairHeap();
  heap.push(0, src);
  while (heap.size > 0) {
    const [d, u] = heap.pop();
    if (done.has(u)) continue;
    done.add(u);
    for (const e of g.get(u) ?? []) {
      const nd = d + e.ms;
      if (nd < (ms.get(e.to) ?? Infinity)) {
        ms.set(e.to, nd);
        heap.push(nd, e.to);
      }
    }
  }
  const hops = new Map<number, number>([[src, 0]]);
  let level = [src];
  while (level.length > 0) {
    const next: number[] = [];
    for (const u of level) {
      for (const e of g.get(u) ?? []) {
        if (hops.has(e.to)) continue;
        hops.set(e.to, hops.get(u)! + 1);
        next.push(e.to);
      }
    }
    level = next;
  }
  return { ms, hops };
}

/**
 * The graph's diameter in link latency and in hops, as the largest
 * eccentricity over `sources` random nodes (a lower bound that is tight in
 * practice for random graphs), and whether the graph is connected.
 */
export function diameter(cluster: SimCluster, sources: number, random: () => number): { latencyMs: number; hops: number; connected: boolean } {
  const g = sessionGraph(cluster);
  const nodes = [...g.keys()];
  let latencyMs = 0;
  let hops = 0;
  let connected = true;
  for (const s of sample(nodes, sources, random)) {
    const d = distancesFrom(g, s);
    if (d.ms.size < nodes.length) connected = false;
    for (const v of d.ms.values()) latencyMs = Math.max(latencyMs, v);
    for (const v of d.hops.values()) hops = Math.max(hops, v);
  }
  return { latencyMs, hops, connected };
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** The largest path latency in a tree (exact: the farthest node from the farthest node of any start). */
function treeDiameterMs(adj: { to: number; ms: number }[][]): number {
  const farthest = (src: number): [number, number] => {
    const dist = new Map<number, number>([[src, 0]]);
    const stack = [src];
    let best: [number, number] = [src, 0];
    while (stack.length > 0) {
      const u = stack.pop()!;
      const du = dist.get(u)!;
      if (du > best[1]) best = [u, du];
      for (const e of adj[u] ?? []) {
        if (dist.has(e.to)) continue;
        dist.set(e.to, du + e.ms);
        stack.push(e.to);
      }
    }
    return best;
  };
  if (adj.length === 0) return 0;
  return farthest(farthest(0)[0])[1];
}

/**
 * The shape of the broadcast tree: links eager at both ends, per (N - 1)
 * (1.0 for a spanning tree), the share of the session graph's minimum
 * spanning tree (by the gossip link weights) among them, and that spanning
 * tree's diameter in link latency: the latency of the slowest delivery a
 * message sent along it alone can have (against the graph's own diameter).
 */
export function treeShape(cluster: SimCluster): {
  treeLinksPerNode: number;
  mstInTree: number;
  mstDiameterMs: number;
  eagerTreeDiameterMs: number;
  roots: number;
  rootChanges: number;
  parentChanges: number;
} {
  const live = cluster.live();
  const index = new Map(live.map((n, i) => [n.nodeId, i]));
  const eager = new Set<string>();
  const edges: { a: number; b: number; w: number }[] = [];
  for (const n of live) {
    const i = index.get(n.nodeId)!;
    for (const p of n.node.listPeers()) {
      const j = index.get(p.nodeId);
      if (j === undefined) continue;
      const key = i < j ? `${i},${j}` : `${j},${i}`;
      if (p.gossip?.eager === true) {
        if (eager.has(`half:${key}:${j}`)) eager.add(key);
        else eager.add(`half:${key}:${i}`);
      }
      if (i < j) edges.push({ a: i, b: j, w: linkWeight(p.rttMs, pairHash(n.nodeId, p.nodeId)) });
    }
  }
  const bothKeys = [...eager].filter((k) => !k.startsWith('half:'));
  const both = bothKeys.length;
  // The tree messages actually take, when the eager links form one (else -1).
  const eagerAdj: { to: number; ms: number }[][] = live.map(() => []);
  for (const k of bothKeys) {
    const [a, b] = k.split(',').map(Number) as [number, number];
    const ms = cluster.net.latency.oneWayMs(live[a]!.host, live[b]!.host);
    eagerAdj[a]!.push({ to: b, ms });
    eagerAdj[b]!.push({ to: a, ms });
  }
  const roots = new Set<string>();
  let rootChanges = 0;
  let parentChanges = 0;
  for (const n of live) {
    const t = n.node.gossipTree;
    if (t === undefined) continue;
    roots.add(t.root);
    rootChanges += t.rootChanges;
    parentChanges += t.parentChanges;
  }
  // Kruskal with union-find.
  const parent = live.map((_, i) => i);
  const find = (x: number): number => (parent[x] === x ? x : (parent[x] = find(parent[x]!)));
  let mst = 0;
  let mstEager = 0;
  const adj: { to: number; ms: number }[][] = live.map(() => []);
  for (const e of edges.sort((x, y) => x.w - y.w)) {
    const ra = find(e.a);
    const rb = find(e.b);
    if (ra === rb) continue;
    parent[ra] = rb;
    mst++;
    if (eager.has(`${e.a},${e.b}`)) mstEager++;
    const ms = cluster.net.latency.oneWayMs(live[e.a]!.host, live[e.b]!.host);
    adj[e.a]!.push({ to: e.b, ms });
    adj[e.b]!.push({ to: e.a, ms });
  }
  return {
    treeLinksPerNode: round(both / Math.max(1, live.length - 1), 3),
    mstInTree: round(mstEager / Math.max(1, mst), 3),
    mstDiameterMs: Math.round(treeDiameterMs(adj)),
    eagerTreeDiameterMs: both === live.length - 1 ? Math.round(treeDiameterMs(eagerAdj)) : -1,
    roots: roots.size,
    rootChanges,
    parentChanges,
  };
}
