import { lookup as dnsLookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import { DisconnectReason } from '../gen/pheromones/wire/v1/wire_pb.js';
import { formatAddress, parseAddress } from '../peer/address.js';
import type { Peer } from '../peer/peer.js';
import type { PeerManager } from '../peer/peer-manager.js';
import type { KnownPeer, PeerStore } from '../store/peer-store.js';
import { addressGroup, hostOf, MAX_PER_GROUP } from './address-group.js';

export interface EngineTuning {
  /** How often the engine checks its slots (it also runs when something changes). */
  engineIntervalMs: number;
  /** Handshake deadline of an engine dial. */
  dialTimeoutMs: number;
  /** Wait after a failed dial, doubling per failure, up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * While the outbound slots are full, one extra outbound peer, picked at
   * random from the store, is dialled this often (and the previous one let
   * go); 0: never. A network whose halves lost every link between them
   * (a partition) has full slots on both sides once it heals, so without it
   * no node would ever dial across again (Bitcoin Core's feelers and
   * rotating extra peers serve the same end).
   */
  extraPeerIntervalMs: number;
}

export interface EngineOptions {
  peers: PeerManager;
  store: PeerStore;
  isBanned(address: string, nodeId: string): boolean;
  seeds: string[];
  tuning: EngineTuning;
  logger: Logger;
  /** Ask a connected peer for more addresses (rate-limited by the caller). */
  askForPeers(peer: Peer): void;
}

/** Wait between closing a link to turn it around and dialling back (the close must reach the peer first). */
const REBALANCE_DIAL_DELAY_MS = 50;

/** Seeds are re-resolved at most this often. */
const SEED_RESOLVE_MS = 60_000;

/**
 * Keeps the outbound slots filled from the peer store: addresses reached
 * before first, spread over address groups, never one already connected or
 * being dialled, failures backed off exponentially per address. Seeds are
 * dialled when the store has nothing usable, and a seed is let go once the
 * slots are full and other candidates exist.
 */
export class ConnectionEngine {
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = true;
  private seedAddresses: string[] = [];
  private seedsResolvedMs = 0;
  private resolving: Promise<void> | undefined;
  /** Addresses that were seeds (so that they are let go once not needed). */
  private readonly seedSet = new Set<string>();
  private lastRebalanceMs = 0;
  private lastExtraMs = Date.now();
  /** Node id of the current extra outbound peer, if any. */
  private extraPeer: string | undefined;
  private readonly log: Logger;

  constructor(private readonly o: EngineOptions) {
    this.log = o.logger;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.tick(), this.o.tuning.engineIntervalMs);
    this.timer.unref();
    this.poke();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Run soon (a peer left, addresses arrived). */
  poke(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.tick();
    });
  }

  /** The addresses the engine would dial now, best first (for tests and the tick). */
  candidates(now = Date.now()): KnownPeer[] {
    const p = this.o.peers;
    const connectedAddresses = new Set<string>();
    const connectedIds = new Set<string>();
    for (const peer of p.peers()) {
      connectedIds.add(peer.id);
      connectedAddresses.add(peer.address);
      if (peer.listenAddress !== '') connectedAddresses.add(peer.listenAddress);
    }
    const t = this.o.tuning;
    const usable = this.o.store.list().filter((e) => {
      if (connectedAddresses.has(e.address) || p.isDialling(e.address)) return false;
      if (e.nodeId !== '' && (connectedIds.has(e.nodeId) || e.nodeId === p.localId)) return false;
      const { host, port } = parseAddress(e.address);
      if (p.isOwnAddress(host, port)) return false;
      if (this.o.isBanned(e.address, e.nodeId)) return false;
      const wait = e.lastAttemptMs === 0 ? 0 : Math.min(t.retryMaxMs, t.retryBaseMs * 2 ** Math.min(e.failures, 20));
      return now - e.lastAttemptMs >= wait;
    });
    const reached = usable.filter((e) => e.lastSuccessMs > 0);
    const fresh = shuffle(usable.filter((e) => e.lastSuccessMs === 0));
    return [...reached, ...fresh];
  }

  tick(): void {
    if (this.stopped) return;
    const p = this.o.peers;
    const outbound = p.peers().filter((peer) => peer.direction === 'outbound');
    let free = p.maxOutbound - outbound.length - p.pendingOutbound();
    const candidates = this.candidates();
    if (free <= 0) {
      this.releaseSeed(outbound, candidates);
      this.rotateExtra(candidates);
      return;
    }
    const groups = new Map<string, number>();
    for (const peer of outbound) {
      const g = addressGroup(hostOf(peer.address));
      groups.set(g, (groups.get(g) ?? 0) + 1);
    }
    // Diverse picks first; crowded groups only when no other group has candidates left.
    const picked: KnownPeer[] = [];
    const rest: KnownPeer[] = [];
    for (const c of candidates) {
      const g = addressGroup(hostOf(c.address));
      if ((groups.get(g) ?? 0) < MAX_PER_GROUP) {
        picked.push(c);
        groups.set(g, (groups.get(g) ?? 0) + 1);
      } else {
        rest.push(c);
      }
    }
    const otherGroupsLeft = new Set(picked.map((c) => addressGroup(hostOf(c.address))));
    const ordered = otherGroupsLeft.size > 1 ? picked : [...picked, ...rest];
    for (const c of ordered) {
      if (free <= 0) break;
      free--;
      this.dial(c.address);
    }
    if (free > 0) {
      if (p.peers().length > 0) {
        const peers = p.peers();
        const peer = peers[Math.floor(Math.random() * peers.length)];
        if (peer !== undefined) this.o.askForPeers(peer);
      }
      if (candidates.length === 0) {
        this.useSeeds(free);
        this.rebalance(outbound.length);
      }
    }
  }

  /**
   * On a small network a node can end up connected to everyone, mostly by
   * inbound links, with its outbound slots unfilled and nobody left to dial.
   * Such a node (more inbound than outbound peers) turns its oldest inbound
   * link around: it closes it and dials that peer back. The peer, which may
   * then miss an outbound link, fills it from its own candidates or does the
   * same; the newest links are never chosen, so two nodes do not swap one
   * link back and forth. At most once per five engine periods.
   */
  private rebalance(outboundCount: number): void {
    const p = this.o.peers;
    const now = Date.now();
    if (now - this.lastRebalanceMs < 5 * this.o.tuning.engineIntervalMs) return;
    const inbound = p.peers().filter((peer) => peer.direction === 'inbound' && !peer.persistent && peer.listenAddress !== '');
    // Only where it can help: more inbound than outbound links, and more peers than outbound slots.
    if (inbound.length <= outboundCount || inbound.length + outboundCount <= p.maxOutbound) return;
    const oldest = inbound.reduce((a, b) => (b.connectedSinceMs < a.connectedSinceMs ? b : a));
    this.lastRebalanceMs = now;
    const address = oldest.listenAddress;
    this.log.debug({ peer: oldest.id, address }, 'turning an inbound link around to fill an outbound slot');
    this.o.store.learn(address, 'inbound', oldest.id);
    p.disconnect(oldest.id, DisconnectReason.REQUESTED, 'rebalancing: this node dials back');
    const timer = setTimeout(() => {
      if (!this.stopped && p.get(oldest.id) === undefined && !p.isDialling(address)) this.dial(address);
    }, REBALANCE_DIAL_DELAY_MS);
    timer.unref();
  }

  /** Let the last extra outbound peer go and dial a new one, at random among the candidates (see extraPeerIntervalMs). */
  private rotateExtra(candidates: KnownPeer[]): void {
    const every = this.o.tuning.extraPeerIntervalMs;
    const now = Date.now();
    if (every <= 0 || this.o.peers.maxOutbound === 0 || now - this.lastExtraMs < every) return;
    this.lastExtraMs = now;
    const p = this.o.peers;
    if (this.extraPeer !== undefined && p.get(this.extraPeer) !== undefined) {
      p.disconnect(this.extraPeer, DisconnectReason.REQUESTED, 'rotating the extra outbound peer');
    }
    this.extraPeer = undefined;
    const pick = candidates[Math.floor(Math.random() * candidates.length)];
    if (pick === undefined) return;
    this.log.debug({ address: pick.address }, 'dialling an extra outbound peer');
    this.dial(pick.address, true);
  }

  private dial(address: string, extra = false): void {
    this.o.store.attempt(address);
    this.o.peers.connect(address, { persistent: false, extra, timeoutMs: this.o.tuning.dialTimeoutMs }).then(
      (peer) => {
        this.o.store.success(address, peer.id);
        if (extra) this.extraPeer = peer.id;
      },
      (err: unknown) => {
        const kind = (err as { kind?: string }).kind;
        this.log.debug({ address, err: (err as Error).message }, 'dial failed');
        // Our own address, or no slot: nothing wrong with the address itself.
        if (kind === 'resource-exhausted') return;
        if (kind === 'invalid-argument') this.o.store.remove(address);
        else this.o.store.failure(address);
        this.poke();
      },
    );
  }

  /** Dial seeds (resolving names) when the store has nothing usable. */
  private useSeeds(free: number): void {
    if (this.o.seeds.length === 0) return;
    const now = Date.now();
    if (this.resolving === undefined && now - this.seedsResolvedMs > SEED_RESOLVE_MS) {
      this.resolving = this.resolveSeeds().finally(() => {
        this.resolving = undefined;
        this.seedsResolvedMs = Date.now();
        this.poke();
      });
      return;
    }
    let n = free;
    for (const a of this.seedAddresses) {
      if (n <= 0) break;
      const known = this.o.store.get(a);
      if (known !== undefined) continue; // in the store: the normal path dials it
      this.o.store.learn(a, 'seed');
      n--;
    }
    if (n < free) this.poke();
  }

  private async resolveSeeds(): Promise<void> {
    const out: string[] = [];
    for (const seed of this.o.seeds) {
      try {
        const { host, port } = parseAddress(seed);
        const records = await dnsLookup(host, { all: true });
        for (const r of records) out.push(formatAddress(r.address, port));
      } catch (err) {
        this.log.warn({ seed, err: (err as Error).message }, 'cannot resolve seed');
      }
    }
    this.seedAddresses = [...new Set(out)];
    for (const a of this.seedAddresses) this.seedSet.add(a);
    this.log.debug({ seeds: this.seedAddresses }, 'seeds resolved');
  }

  /** Slots are full: let one seed go if there is someone else to take its slot. */
  private releaseSeed(outbound: Peer[], candidates: KnownPeer[]): void {
    if (candidates.length === 0) return;
    const seed = outbound.find((peer) => !peer.persistent && this.seedSet.has(peer.address));
    if (seed === undefined) return;
    this.log.info({ peer: seed.id, address: seed.address }, 'enough peers: letting the seed go');
    this.o.peers.disconnect(seed.id, DisconnectReason.REQUESTED, 'enough peers; a seed is not kept connected');
  }
}

/** Fisher-Yates, in place. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}
