/**
 * A simulated network of real Nodes (src/node/node.ts) in one process: each
 * with its own identity, an in-memory store (memory-level) instead of
 * LevelDB, and the in-memory transport (./transport.ts); all on one virtual
 * clock (./clock.ts), which must be installed before the first node is made.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { pino, type Logger } from 'pino';
import { identityFromSecret, type NodeIdentity } from '../../src/crypto/identity.js';
import { sha256 } from '../../src/crypto/hash.js';
import { isValidSecretKey } from '../../src/crypto/secp256k1.js';
import type { DiscoveryTuning } from '../../src/discovery/discovery.js';
import type { NodeTuning } from '../../src/node/config.js';
import { Node } from '../../src/node/node.js';
import type { VirtualClock } from './clock.js';
import { SimNetwork } from './transport.js';

export const SIM_PORT = 7000;
/** devnet's chain parameters (any unknown name has them) under a network id of its own. */
const DEFAULT_NETWORK = 'simnet';

export interface SimNode {
  index: number;
  host: string;
  address: string;
  node: Node;
  nodeId: string;
  alive: boolean;
  /** Simulated time the node was started at. */
  startedAtMs: number;
}

export interface ClusterOptions {
  seed: number;
  maxOutbound?: number;
  maxInbound?: number;
  tuning?: Partial<NodeTuning>;
  discovery?: Partial<DiscoveryTuning>;
  /** False: broadcasts are not also chain transactions (gossip alone). */
  recordBroadcasts?: boolean;
  linkLoss?: number;
  /** Network name; 'regtest' makes mining nearly free (docs/chain.md). */
  network?: string;
}

/**
 * Host of node i: a distinct IPv4 /16 for each of the first 57,000 nodes,
 * so the engine's address-group diversity rule sees an Internet-like spread.
 */
export function hostOf(i: number): string {
  return `${1 + (i % 223)}.${Math.floor(i / 223) % 256}.${Math.floor(i / 57_088) % 256}.1`;
}

/**
 * The identity of the index-th node of a run: derived from the seed, so a
 * seed fixes every node id and with them the DHT's distances, buckets and
 * lookup paths (random keys made runs of one seed differ).
 */
export function seededIdentity(seed: number, index: number): NodeIdentity {
  for (let attempt = 0; ; attempt++) {
    const secret = sha256(new TextEncoder().encode(`pheromones-sim-identity|${seed}|${index}|${attempt}`));
    if (isValidSecretKey(secret)) return identityFromSecret(secret);
  }
}

export class SimCluster {
  readonly net: SimNetwork;
  readonly nodes: SimNode[] = [];
  private readonly logger: Logger = pino({ level: 'silent' });
  private readonly dataRoot = join(tmpdir(), `pheromones-sim-${process.pid}`);

  constructor(
    readonly clock: VirtualClock,
    private readonly opts: ClusterOptions,
  ) {
    this.net = new SimNetwork(clock, { seed: opts.seed, linkLoss: opts.linkLoss });
  }

  live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** Make and start one more node, bootstrapping from `seeds` (host:port). */
  async add(seeds: string[], chain: { mine?: boolean; minerKey?: Uint8Array } = {}): Promise<SimNode> {
    const index = this.nodes.length;
    const host = hostOf(index);
    const transport = this.net.transportFor(host);
    const node = new Node({
      dataDir: join(this.dataRoot, String(index)),
      network: this.opts.network ?? DEFAULT_NETWORK,
      listenHost: host,
      listenPort: SIM_PORT,
      peers: [],
      maxInbound: this.opts.maxInbound ?? 64,
      maxOutbound: this.opts.maxOutbound ?? 8,
      grpcAddress: '',
      logger: this.logger,
      tuning: this.opts.tuning,
      seeds,
      discovery: this.opts.discovery,
      chain: { recordBroadcasts: this.opts.recordBroadcasts ?? false, mine: chain.mine ?? false, minerKey: chain.minerKey, mineEmpty: false },
      transport,
      identity: seededIdentity(this.opts.seed, index),
      openDatabase: async () => {
        const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' });
        await db.open();
        return db;
      },
    });
    await node.start();
    const sim: SimNode = { index, host, address: `${host}:${SIM_PORT}`, node, nodeId: node.nodeId, alive: true, startedAtMs: this.clock.now() };
    this.nodes.push(sim);
    return sim;
  }

  /** Kill a node: no goodbye reaches anyone (the network drops its frames), then its timers are stopped. */
  kill(n: SimNode): void {
    if (!n.alive) return;
    n.alive = false;
    this.net.kill(n.host);
    void n.node.stop().catch(() => undefined);
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes) if (n.alive) this.net.kill(n.host);
    await Promise.all(this.nodes.map((n) => n.node.stop().catch(() => undefined)));
    await rm(this.dataRoot, { recursive: true, force: true });
  }
}
