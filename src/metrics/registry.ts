import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { SyncStatus } from '../chain/protocol.js';
import type { HandshakeCount } from '../node/handshake-counts.js';
import type { DiscoveryApi, PeerEvent, PeerInfo } from '../node/types.js';
import type { GossipStats } from '../gossip/stats.js';

/**
 * What the metrics read from a running node (Node implements it). Every
 * value comes from stats the layers keep anyway; reading them is cheap, so
 * they are read at scrape time rather than pushed on every event.
 */
export interface MetricsSource {
  readonly ready: boolean;
  listPeers(): PeerInfo[];
  onPeerEvent(listener: (ev: PeerEvent) => void): () => void;
  readonly gossipStats: GossipStats;
  readonly seenCacheSize: number;
  readonly messageLogSize: number;
  handshakeCounts(): HandshakeCount[];
  readonly discovery?: DiscoveryApi;
  /** Throws while the node is not running. */
  chainNode(): { syncStatus(): SyncStatus & { poolSize: number } };
}

type Dir = 'in' | 'out';

/** Per-protocol frames and bytes each way, plus socket bytes, summed over sessions. */
class TrafficTotals {
  readonly frames = new Map<string, number>();
  readonly bytes = new Map<string, number>();
  readonly socket = { in: 0, out: 0 };

  add(p: PeerInfo): void {
    for (const t of p.traffic) {
      bump(this.frames, key(t.protocol, 'in'), t.framesIn);
      bump(this.frames, key(t.protocol, 'out'), t.framesOut);
      bump(this.bytes, key(t.protocol, 'in'), t.bytesIn);
      bump(this.bytes, key(t.protocol, 'out'), t.bytesOut);
    }
    this.socket.in += p.bytesIn;
    this.socket.out += p.bytesOut;
  }

  plus(other: TrafficTotals): TrafficTotals {
    const sum = new TrafficTotals();
    for (const src of [this, other]) {
      for (const [k, v] of src.frames) bump(sum.frames, k, v);
      for (const [k, v] of src.bytes) bump(sum.bytes, k, v);
      sum.socket.in += src.socket.in;
      sum.socket.out += src.socket.out;
    }
    return sum;
  }
}

const key = (protocol: string, dir: Dir): string => `${protocol}\u0000${dir}`;
const unkey = (k: string): { protocol: string; direction: string } => {
  const [protocol = '', direction = ''] = k.split('\u0000');
  return { protocol, direction };
};

function bump(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}

/**
 * Counters here mirror running totals the node keeps: each scrape resets
 * them and adds the current total (collect()), so they only go up as long
 * as the totals do.
 *
 * A Prometheus registry (its own, not prom-client's global one) holding the
 * node's metrics (docs/api.md, "Metrics") and the Node.js process metrics of
 * prom-client (memory, CPU, event-loop delay, GC). Returns the registry and
 * a function that stops listening to the node.
 */
export function nodeRegistry(node: MetricsSource): { registry: Registry; close(): void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // Sessions that ended: their final counters, so the totals never go down when a peer leaves.
  const ended = new TrafficTotals();
  let bansIssued = 0;
  const off = node.onPeerEvent((ev) => {
    if (ev.type === 'disconnected') ended.add(ev.peer);
    else if (ev.type === 'banned') bansIssued++;
  });
  const currentTraffic = (): TrafficTotals => {
    const live = new TrafficTotals();
    for (const p of node.listPeers()) live.add(p);
    return ended.plus(live);
  };
  const chain = (): (SyncStatus & { poolSize: number }) | undefined => {
    if (!node.ready) return undefined;
    try {
      return node.chainNode().syncStatus();
    } catch {
      return undefined;
    }
  };

  new Gauge({
    name: 'pheromones_peers',
    help: 'Connected peers, by which side dialled.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const n = { inbound: 0, outbound: 0 };
      for (const p of node.listPeers()) n[p.direction]++;
      this.set({ direction: 'inbound' }, n.inbound);
      this.set({ direction: 'outbound' }, n.outbound);
    },
  });
  /** A counter mirroring running totals: `read` lists the current total of each label set. */
  const totals = (name: string, help: string, labelNames: string[], read: () => Iterable<[Record<string, string>, number]>): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  };
  const byKey = (m: Map<string, number>): [Record<string, string>, number][] => [...m].map(([k, v]) => [unkey(k), v]);
  const inOut = (inbound: number, outbound: number): [Record<string, string>, number][] => [
    [{ direction: 'in' }, inbound],
    [{ direction: 'out' }, outbound],
  ];
  totals(
    'pheromones_protocol_frames_total',
    'Frames sent (out: handed to the socket) and received, by protocol ("control" is ping/pong).',
    ['protocol', 'direction'],
    () => byKey(currentTraffic().frames),
  );
  totals(
    'pheromones_protocol_bytes_total',
    'Frame body bytes (encoded envelopes, without record overhead) sent and received, by protocol.',
    ['protocol', 'direction'],
    () => byKey(currentTraffic().bytes),
  );
  totals('pheromones_socket_bytes_total', 'Bytes written to and read from peer TCP sockets, handshakes and record overhead included.', ['direction'], () => {
    const s = currentTraffic().socket;
    return inOut(s.in, s.out);
  });
  totals('pheromones_handshakes_total', 'Secure handshakes, by direction and result: "ok" or why they failed.', ['direction', 'result'], () =>
    node.handshakeCounts().map((h) => [{ direction: h.direction, result: h.result }, h.count]),
  );
  totals('pheromones_gossip_delivered_total', 'Gossip messages delivered (logged) on this node, its own broadcasts included.', [], () => [
    [{}, node.gossipStats.delivered],
  ]);
  totals('pheromones_gossip_duplicates_total', 'Gossip message copies received for a message already seen.', [], () => [[{}, node.gossipStats.duplicates]]);
  totals('pheromones_gossip_grafts_total', 'Gossip grafts (a link taken back into the broadcast tree), received and sent.', ['direction'], () => {
    const g = node.gossipStats;
    return inOut(g.graftsReceived, g.graftsSent);
  });
  totals('pheromones_gossip_prunes_total', 'Gossip prunes (a link taken out of the broadcast tree), received and sent.', ['direction'], () => {
    const g = node.gossipStats;
    return inOut(g.prunesReceived, g.prunesSent);
  });
  totals('pheromones_gossip_repairs_total', 'Gossip tree repairs: messages recovered by a graft, and announced ids given up on (no announcer sent the message).', ['result'], () => {
    const g = node.gossipStats;
    return [
      [{ result: 'recovered' }, g.recovered],
      [{ result: 'given_up' }, g.missingDropped],
    ];
  });
  totals('pheromones_bans_total', 'Bans put in force since the node started (operator and misbehaviour).', [], () => [[{}, bansIssued]]);

  const gauge = (name: string, help: string, read: () => number | undefined): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = read();
        // Not known yet (the node is starting): no sample rather than a made-up 0.
        if (v === undefined) this.reset();
        else this.set(v);
      },
    });
  };
  gauge('pheromones_gossip_seen_cache_entries', 'Message ids in the gossip seen cache.', () => node.seenCacheSize);
  gauge('pheromones_message_log_messages', 'Messages in the persistent message log.', () => node.messageLogSize);
  gauge('pheromones_chain_height', 'Height of the best chain.', () => chain()?.height);
  gauge('pheromones_chain_sync_target_height', 'Best height a peer with more work reported; the own height when none.', () => chain()?.targetHeight);
  gauge('pheromones_chain_syncing', '1 while blocks are being downloaded from a peer, else 0.', () => {
    const c = chain();
    return c === undefined ? undefined : c.syncing ? 1 : 0;
  });
  gauge('pheromones_chain_pool_transactions', 'Transactions waiting in the pool.', () => chain()?.poolSize);
  gauge('pheromones_bans', 'Bans in force.', () => node.discovery?.bans().length);
  return { registry, close: off };
}
