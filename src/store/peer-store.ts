import type { Database } from './database.js';
import { JsonTable } from './json-table.js';

/** Where an address was first learnt. */
export type PeerSource = 'seed' | 'exchange' | 'dht' | 'inbound' | 'manual';
const SOURCES: readonly PeerSource[] = ['seed', 'exchange', 'dht', 'inbound', 'manual'];

/** One address of the peer store. Times are ms since the epoch, 0 for never. */
export interface KnownPeer {
  address: string;
  /** Hex node id once a handshake or a record told us; '' otherwise. */
  nodeId: string;
  source: PeerSource;
  firstSeenMs: number;
  lastSeenMs: number;
  lastAttemptMs: number;
  lastSuccessMs: number;
  /** Failed dials since the last success. */
  failures: number;
}

export interface PeerStoreLimits {
  /** Most addresses kept; past it the least useful is dropped. */
  maxEntries: number;
  /** An address never reached is dropped after this many failed dials in a row. */
  maxFailuresNeverReached: number;
  /** An address reached before is dropped after this many failed dials in a row. */
  maxFailures: number;
}

export const DEFAULT_PEER_STORE_LIMITS: PeerStoreLimits = { maxEntries: 2048, maxFailuresNeverReached: 3, maxFailures: 10 };

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

function check(key: string, v: unknown): KnownPeer | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const r = v as Record<string, unknown>;
  const source = SOURCES.find((s) => s === r.source);
  if (source === undefined || typeof r.nodeId !== 'string') return undefined;
  return {
    address: key,
    nodeId: r.nodeId,
    source,
    firstSeenMs: num(r.firstSeenMs),
    lastSeenMs: num(r.lastSeenMs),
    lastAttemptMs: num(r.lastAttemptMs),
    lastSuccessMs: num(r.lastSuccessMs),
    failures: num(r.failures),
  };
}

/**
 * Known peer addresses (Bitcoin's peers.dat): what discovery learnt, kept in
 * LevelDB so that a restarted node finds its way back without a seed.
 * Bounded: addresses that keep failing age out, and past maxEntries the
 * least useful entry (never reached, most failures, oldest) makes room.
 * Addresses are stored as given (the caller normalises them).
 */
export class PeerStore {
  private constructor(
    private readonly table: JsonTable<KnownPeer>,
    private readonly entries: Map<string, KnownPeer>,
    private readonly limits: PeerStoreLimits,
  ) {}

  static async open(db: Database, limits: PeerStoreLimits = DEFAULT_PEER_STORE_LIMITS): Promise<PeerStore> {
    const table = new JsonTable<KnownPeer>(db, 'peers');
    return new PeerStore(table, await table.load(check), limits);
  }

  get size(): number {
    return this.entries.size;
  }

  get(address: string): KnownPeer | undefined {
    return this.entries.get(address);
  }

  /** Every entry, most recently reached first. */
  list(): KnownPeer[] {
    return [...this.entries.values()].sort((a, b) => b.lastSuccessMs - a.lastSuccessMs || b.lastSeenMs - a.lastSeenMs);
  }

  /** Record that `address` exists (learnt from `source`); keeps the first source. */
  learn(address: string, source: PeerSource, nodeId = '', now = Date.now()): KnownPeer {
    let e = this.entries.get(address);
    if (e === undefined) {
      e = { address, nodeId, source, firstSeenMs: now, lastSeenMs: now, lastAttemptMs: 0, lastSuccessMs: 0, failures: 0 };
      this.entries.set(address, e);
      this.trim();
    } else {
      e.lastSeenMs = Math.max(e.lastSeenMs, now);
      if (nodeId !== '') e.nodeId = nodeId;
    }
    this.save(e);
    return e;
  }

  attempt(address: string, now = Date.now()): void {
    const e = this.entries.get(address);
    if (e === undefined) return;
    e.lastAttemptMs = now;
    this.save(e);
  }

  success(address: string, nodeId: string, now = Date.now()): void {
    const e = this.entries.get(address) ?? this.learn(address, 'manual', nodeId, now);
    e.nodeId = nodeId;
    e.lastSuccessMs = now;
    e.lastSeenMs = now;
    e.failures = 0;
    this.save(e);
  }

  /** A failed dial; the address is dropped once it keeps failing. */
  failure(address: string): void {
    const e = this.entries.get(address);
    if (e === undefined) return;
    e.failures++;
    const max = e.lastSuccessMs === 0 ? this.limits.maxFailuresNeverReached : this.limits.maxFailures;
    if (e.failures >= max) this.remove(address);
    else this.save(e);
  }

  remove(address: string): void {
    if (this.entries.delete(address)) this.table.del(address);
  }

  flush(): Promise<void> {
    return this.table.flush();
  }

  private save(e: KnownPeer): void {
    if (this.entries.get(e.address) !== e) return;
    this.table.put(e.address, e);
  }

  private trim(): void {
    while (this.entries.size > this.limits.maxEntries) {
      let worst: KnownPeer | undefined;
      for (const e of this.entries.values()) if (worst === undefined || worse(e, worst)) worst = e;
      if (worst === undefined) return;
      this.remove(worst.address);
    }
  }
}

/** True when a is less worth keeping than b. */
function worse(a: KnownPeer, b: KnownPeer): boolean {
  if ((a.lastSuccessMs === 0) !== (b.lastSuccessMs === 0)) return a.lastSuccessMs === 0;
  if (a.failures !== b.failures) return a.failures > b.failures;
  return a.lastSeenMs < b.lastSeenMs;
}
