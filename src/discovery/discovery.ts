import { randomBytes } from 'node:crypto';
import { toHex } from '../crypto/hash.js';
import { isIP } from 'node:net';
import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import {
  DisconnectReason,
  FindNodeSchema,
  GetPeersSchema,
  NodeListSchema,
  NodeRecordSchema,
  PeerListSchema,
  type Envelope,
  type NodeRecord,
} from '../gen/pheromones/wire/v1/wire_pb.js';
import { formatAddress, normaliseHost, parseAddress } from '../peer/address.js';
import { envelope, type Peer } from '../peer/peer.js';
import { MISBEHAVIOUR, type Dialer, type PeerManager, type PeerPolicy } from '../peer/peer-manager.js';
import type { Protocol } from '../peer/protocol.js';
import { BanList, type Ban } from '../store/ban-list.js';
import type { Database } from '../store/database.js';
import { JsonTable } from '../store/json-table.js';
import { PeerStore, type KnownPeer } from '../store/peer-store.js';
import type { DisconnectCause } from '../peer/types.js';
import type { SecureConnection } from '../transport/types.js';
import { hostOf } from './address-group.js';
import { ConnectionEngine, shuffle, type EngineTuning } from './engine.js';
import { bucketIndex, distance, idBytes, K, randomIdInBucket, RoutingTable, type Contact } from './kademlia.js';
import { iterativeLookup } from './lookup.js';
import { LateAnswers, nodeListKey, peerListKey } from './late-answers.js';

/**
 * Automatic outbound connections: 'on', 'off', or 'auto' (the default): on
 * when the node has seeds or had them in an earlier run (so a restarted node
 * finds its way back without them), off for a node only ever given fixed
 * peers, which then keeps exactly the topology its operator chose (as
 * bitcoind's -connect). Peer exchange and DHT queries are answered either way.
 */
export type AutoConnect = 'auto' | 'on' | 'off';

export interface DiscoveryTuning extends EngineTuning {
  autoConnect: AutoConnect;
  /** Default ban length. */
  banDurationMs: number;
  /** One FIND_NODE query's deadline. */
  queryTimeoutMs: number;
  /** Buckets without a lookup for this long are refreshed. */
  refreshIntervalMs: number;
}

export const DEFAULT_DISCOVERY_TUNING: DiscoveryTuning = {
  autoConnect: 'auto',
  banDurationMs: 24 * 3600_000,
  queryTimeoutMs: 3_000,
  refreshIntervalMs: 10 * 60_000,
  engineIntervalMs: 1_000,
  dialTimeoutMs: 5_000,
  retryBaseMs: 2_000,
  retryMaxMs: 10 * 60_000,
  extraPeerIntervalMs: 5 * 60_000,
};

export interface DiscoveryOptions {
  localId: string;
  peers: PeerManager;
  store: PeerStore;
  bans: BanList;
  /** Raw transport dial, for short-lived query sessions to nodes we are not connected to. */
  dial: Dialer;
  /** host:port seed addresses (names resolved at use). */
  seeds: string[];
  tuning: DiscoveryTuning;
  logger: Logger;
  /** This node's own public addresses (its NAT mapping), advertised in PeerList answers. */
  ownAddresses?: () => string[];
}

export interface FindNodeResult {
  nodeId: string;
  address: string;
  queried: number;
  /** Queries in the chain that led to the node (0: it was already known). */
  hops: number;
  elapsedMs: number;
}

/** Records per PeerList answer, and what a GetPeers may ask for. */
const MAX_PEX_RECORDS = 64;
/** An address reached this recently counts as "recently reachable" for peer exchange. */
const PEX_FRESH_MS = 24 * 3600_000;
/** Discovery requests (GetPeers, FindNode) per peer: burst and per-second refill. */
const REQUEST_BURST = 20;
const REQUEST_RATE = 10;
/** Points for one discovery request over the rate limit. */
const REQUEST_FLOOD_POINTS = 5;
/** Addresses peers observed for us that are kept. */
const MAX_OBSERVED = 8;
/** Own addresses advertised in one PeerList, and taken from one. */
const MAX_ADVERTISED = 4;
/** Concurrent liveness pings of full buckets' oldest entries. */
const MAX_PINGS = 4;

interface PeerState {
  tokens: number;
  refillMs: number;
  /** We sent GetPeers and no PeerList came back yet. */
  askedPeers: boolean;
  lastAskedMs: number;
  /** The peer's own addresses from its PeerList, on the host its session comes from. */
  advertised: string[];
}

interface PendingQuery {
  peerId: string;
  resolve(nodes: Contact[]): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}


/**
 * Discovery: peer exchange and the Kademlia DHT spoken on every session
 * (protocol "discovery"), the ban list and the connection engine that keeps
 * the outbound slots filled from the peer store.
 */
export class Discovery implements Protocol {
  readonly name = 'discovery';
  readonly versions = [1] as const;
  readonly envelopes = ['getPeers', 'peerList', 'findNode', 'nodeList'] as const;
  readonly table: RoutingTable;
  readonly engine: ConnectionEngine;
  private readonly state = new Map<Peer, PeerState>();
  private readonly pending = new Map<bigint, PendingQuery>();
  private readonly late = new LateAnswers();
  private readonly observed: string[] = [];
  /** Observed by peers we dialled: they did not choose to connect to us, so they are harder to aim (as bitcoind's addrMe). */
  private readonly observedOutbound: string[] = [];
  private readonly pinging = new Set<string>();
  private readonly log: Logger;
  private refreshTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private selfLookupDone = false;
  private lookups = 0;

  /** Open the peer store and ban list in `db` and build the service (start() runs it). */
  static async open(db: Database, o: Omit<DiscoveryOptions, 'store' | 'bans' | 'tuning'> & { tuning?: Partial<DiscoveryTuning> }): Promise<Discovery> {
    const [store, bans] = await Promise.all([PeerStore.open(db), BanList.open(db)]);
    const tuning = { ...DEFAULT_DISCOVERY_TUNING, ...o.tuning };
    if (tuning.autoConnect === 'auto') {
      const meta = new JsonTable<boolean>(db, 'discovery-meta');
      const seeded = (await meta.load((_k, v) => (typeof v === 'boolean' ? v : undefined))).get('seeded') === true;
      if (o.seeds.length > 0 && !seeded) {
        meta.put('seeded', true);
        await meta.flush();
      }
      tuning.autoConnect = seeded || o.seeds.length > 0 ? 'on' : 'off';
    }
    return new Discovery({ ...o, store, bans, tuning });
  }

  constructor(private readonly o: DiscoveryOptions) {
    this.log = o.logger;
    this.table = new RoutingTable(o.localId);
    this.engine = new ConnectionEngine({
      peers: o.peers,
      store: o.store,
      isBanned: (address, nodeId) => this.bannedFor(address, nodeId) !== undefined,
      seeds: o.seeds,
      tuning: o.tuning,
      logger: o.logger,
      askForPeers: (peer) => this.askForPeers(peer),
    });
  }

  /** Ban checks and bans on misbehaviour, for the peer layer. */
  policy(): PeerPolicy {
    return {
      refuse: (conn: SecureConnection) => {
        const host = conn.remoteAddress;
        const targets = [conn.remoteId, hostKey(host), formatAddress(host, conn.remotePort)];
        if (conn.remoteHello.listenPort > 0) targets.push(formatAddress(host, conn.remoteHello.listenPort));
        const ban = this.o.bans.find(targets);
        return ban === undefined ? undefined : ban.reason;
      },
      onBan: (peer, reason) => {
        // Node id and the advertised address, never the whole host: several
        // nodes may share one IP (NAT, one machine, loopback in tests).
        this.ban(peer.id, this.o.tuning.banDurationMs, reason);
        const address = dialAddress(peer);
        if (address !== '') this.ban(address, this.o.tuning.banDurationMs, reason);
      },
    };
  }

  start(): void {
    if (this.o.tuning.autoConnect !== 'off') this.engine.start();
    const every = Math.max(1_000, Math.floor(this.o.tuning.refreshIntervalMs / 4));
    this.refreshTimer = setInterval(() => void this.refresh(), every);
    this.refreshTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.engine.stop();
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    for (const [id, q] of this.pending) {
      clearTimeout(q.timer);
      q.reject(new PheromonesError('unavailable', 'the node is shutting down'));
      this.pending.delete(id);
    }
    await Promise.all([this.o.store.flush(), this.o.bans.flush()]);
  }

  observedAddresses(): string[] {
    return [...this.observed];
  }

  /** What this node advertises as its own addresses: the NAT mapping first, then what outbound peers observed. */
  advertisedAddresses(): string[] {
    const own = this.o.ownAddresses?.() ?? [];
    return [...new Set([...own, ...this.observedOutbound])].slice(0, MAX_ADVERTISED);
  }

  // --- bans ---

  /** Ban `target` (node id, host:port or host) and drop matching peers. */
  ban(target: string, durationMs: number, reason: string): Ban {
    const key = normaliseTarget(target);
    const ban = this.o.bans.add(key, reason || 'banned by the operator', durationMs > 0 ? durationMs : this.o.tuning.banDurationMs);
    this.log.warn({ target: key, reason: ban.reason, until: new Date(ban.expiresAtMs).toISOString() }, 'banned');
    for (const p of this.o.peers.peers()) {
      if (p.id === key || p.address === key || p.listenAddress === key || hostKey(p.conn.remoteAddress) === key) {
        p.banned = true;
        this.o.peers.disconnect(p.id, DisconnectReason.BANNED, `banned: ${ban.reason}`);
      }
    }
    if (isAddress(key)) this.o.store.remove(key);
    this.o.peers.notify({ type: 'banned', ban: { ...ban } });
    return ban;
  }

  unban(target: string): Ban {
    const key = normaliseTarget(target);
    const ban = this.o.bans.remove(key);
    if (ban === undefined) throw new PheromonesError('not-found', `"${target}" is not banned`);
    this.log.info({ target: key }, 'unbanned');
    return ban;
  }

  bans(): Ban[] {
    return this.o.bans.list();
  }

  knownPeers(): KnownPeer[] {
    return this.o.store.list().map((e) => ({ ...e }));
  }

  private bannedFor(address: string, nodeId: string): Ban | undefined {
    const targets = [address, hostKey(hostOf(address))];
    if (nodeId !== '') targets.push(nodeId);
    return this.o.bans.find(targets);
  }

  // --- protocol ---

  onOpen(peer: Peer): void {
    this.state.set(peer, { tokens: REQUEST_BURST, refillMs: Date.now(), askedPeers: false, lastAskedMs: 0, advertised: [] });
    if (peer.transient) return;
    const address = dialAddress(peer);
    if (peer.direction === 'outbound') this.o.store.success(peer.address, peer.id);
    else if (address !== '') this.o.store.learn(address, 'inbound', peer.id);
    if (address !== '') this.heard({ id: peer.id, address, lastSeenMs: Date.now() });
    this.askForPeers(peer);
    if (!this.selfLookupDone) {
      this.selfLookupDone = true;
      // The self-lookup fills the buckets near us; started once there is someone to ask.
      this.lookups++;
      setTimeout(() => {
        this.lookups--;
        void this.lookup(this.table.selfId).catch(() => undefined);
      }, 0).unref();
    }
  }

  onClose(peer: Peer, cause: DisconnectCause): void {
    // The answer may still come over a duplicate session with the same node.
    if (this.state.get(peer)?.askedPeers === true) this.late.expect(peerListKey(peer.id));
    this.state.delete(peer);
    // A peer that let us go (enough peers, rebalancing) is not dialled straight back.
    if (cause === 'requested' && peer.direction === 'outbound' && !peer.transient) this.o.store.attempt(peer.address);
    for (const [id, q] of this.pending) {
      if (q.peerId !== peer.id) continue;
      clearTimeout(q.timer);
      this.pending.delete(id);
      this.late.expect(nodeListKey(peer.id, id));
      q.reject(new PheromonesError('unavailable', `peer ${peer.id} disconnected`));
    }
    this.engine.poke();
  }

  onMessage(peer: Peer, env: Envelope): void {
    const kind = env.kind;
    switch (kind.case) {
      case 'getPeers':
        if (!this.takeRequestToken(peer)) return;
        this.answerGetPeers(peer, kind.value.max);
        return;
      case 'findNode': {
        if (!this.takeRequestToken(peer)) return;
        if (kind.value.target.length !== 32) throw new PheromonesError('protocol-violation', `FindNode target of ${kind.value.target.length} bytes`);
        const nodes = this.table.closest(Buffer.from(kind.value.target), K);
        // Kademlia learns from who asks: the asker's id is authenticated, its host is where the session comes from.
        // Without this, the nodes nearest an id never hear of it from its own lookups, and lookups for it fail.
        const port = peer.conn.remoteHello.listenPort;
        if (peer.transient && port > 0) this.heard({ id: peer.id, address: formatAddress(peer.conn.remoteAddress, port), lastSeenMs: Date.now() });
        peer.send(
          envelope({
            case: 'nodeList',
            value: create(NodeListSchema, { requestId: kind.value.requestId, nodes: nodes.map(toRecord) }),
          }),
        );
        return;
      }
      case 'peerList':
        this.onPeerList(peer, kind.value.peers, kind.value.observedAddress, kind.value.advertisedAddresses);
        return;
      case 'nodeList':
        this.onNodeList(peer, kind.value.requestId, kind.value.nodes);
        return;
      default:
        return;
    }
  }

  /** Send GetPeers unless we asked this peer recently. */
  askForPeers(peer: Peer): void {
    const s = this.state.get(peer);
    const now = Date.now();
    if (s === undefined || s.askedPeers || now - s.lastAskedMs < this.o.tuning.engineIntervalMs * 10) return;
    s.askedPeers = true;
    s.lastAskedMs = now;
    peer.send(envelope({ case: 'getPeers', value: create(GetPeersSchema, { max: MAX_PEX_RECORDS }) }));
  }

  private answerGetPeers(peer: Peer, max: number): void {
    const limit = Math.min(max === 0 ? MAX_PEX_RECORDS : max, MAX_PEX_RECORDS);
    const now = Date.now();
    const askerAddress = dialAddress(peer);
    const pool = new Map<string, string>();
    for (const p of this.o.peers.peers()) {
      const a = dialAddress(p);
      if (a !== '') pool.set(a, p.id);
      for (const own of this.state.get(p)?.advertised ?? []) pool.set(own, p.id);
    }
    for (const e of this.o.store.list()) {
      if (e.failures === 0 && e.lastSuccessMs > 0 && now - e.lastSuccessMs < PEX_FRESH_MS && !pool.has(e.address)) pool.set(e.address, e.nodeId);
    }
    const records: NodeRecord[] = [];
    for (const [address, nodeId] of shuffle([...pool.entries()])) {
      if (records.length >= limit) break;
      if (address === askerAddress || nodeId === peer.id) continue;
      if (this.bannedFor(address, nodeId) !== undefined) continue;
      records.push(toRecord({ id: nodeId, address, lastSeenMs: now }));
    }
    const observedAddress = peer.conn.remoteHello.listenPort > 0 ? formatAddress(peer.conn.remoteAddress, peer.conn.remoteHello.listenPort) : '';
    const advertisedAddresses = this.advertisedAddresses();
    peer.send(envelope({ case: 'peerList', value: create(PeerListSchema, { peers: records, observedAddress, advertisedAddresses }) }));
  }

  private onPeerList(peer: Peer, records: NodeRecord[], observedAddress: string, advertised: string[]): void {
    const s = this.state.get(peer);
    if (s === undefined) return;
    if (!s.askedPeers && !this.late.take(peerListKey(peer.id))) {
      this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, 'unsolicited PeerList');
      return;
    }
    s.askedPeers = false;
    if (records.length > MAX_PEX_RECORDS) {
      this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, `PeerList of ${records.length} records`);
      return;
    }
    let bad = 0;
    let learnt = 0;
    for (const r of records) {
      const c = fromRecord(r);
      if (c === undefined) {
        bad++;
        continue;
      }
      const { host, port } = parseAddress(c.address);
      if (c.id === this.o.localId || this.o.peers.isOwnAddress(host, port)) continue;
      if (this.bannedFor(c.address, c.id) !== undefined) continue;
      this.o.store.learn(c.address, 'exchange', c.id);
      learnt++;
    }
    if (bad > 0) this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, `PeerList with ${bad} malformed records`);
    if (observedAddress !== '') {
      try {
        const { host, port } = parseAddress(observedAddress);
        const a = formatAddress(host, port);
        keepRecent(this.observed, a, MAX_OBSERVED);
        if (peer.direction === 'outbound') keepRecent(this.observedOutbound, a, MAX_OBSERVED);
      } catch {
        this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, 'malformed observed address');
      }
    }
    learnt += this.takeAdvertised(peer, s, advertised);
    if (learnt > 0) this.engine.poke();
  }

  /**
   * The answerer's own addresses. Only those on the host its session comes
   * from are kept: a NAT mapping's external IP is the address the NAT sends
   * from, and a node cannot make others dial hosts it does not speak from.
   */
  private takeAdvertised(peer: Peer, s: PeerState, advertised: string[]): number {
    if (advertised.length > MAX_ADVERTISED) {
      this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, `PeerList advertising ${advertised.length} own addresses`);
      return 0;
    }
    const sourceHost = normaliseHost(peer.conn.remoteAddress);
    const kept: string[] = [];
    for (const text of advertised) {
      const c = fromRecord(create(NodeRecordSchema, { address: text }));
      if (c === undefined) {
        this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, 'malformed advertised address');
        return 0;
      }
      const { host, port } = parseAddress(c.address);
      if (host !== sourceHost || this.o.peers.isOwnAddress(host, port) || this.bannedFor(c.address, peer.id) !== undefined) continue;
      kept.push(c.address);
    }
    s.advertised = kept;
    if (peer.transient) return 0;
    for (const a of kept) this.o.store.learn(a, 'exchange', peer.id);
    return kept.length;
  }

  private onNodeList(peer: Peer, requestId: bigint, records: NodeRecord[]): void {
    const q = this.pending.get(requestId);
    if (q === undefined || q.peerId !== peer.id) {
      // An answer after our timeout is late, not unsolicited.
      if (!this.late.take(nodeListKey(peer.id, requestId))) this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, 'unsolicited NodeList');
      return;
    }
    this.pending.delete(requestId);
    clearTimeout(q.timer);
    const nodes = this.checkNodes(records);
    if (nodes === undefined) {
      this.o.peers.misbehave(peer, MISBEHAVIOUR.badDiscoveryAnswer, `malformed NodeList (${records.length} records)`);
      q.reject(new PheromonesError('protocol-violation', 'malformed NodeList'));
      return;
    }
    q.resolve(nodes);
  }

  /** The records as contacts, or undefined when the answer is malformed. */
  private checkNodes(records: NodeRecord[]): Contact[] | undefined {
    if (records.length > K) return undefined;
    const out: Contact[] = [];
    for (const r of records) {
      const c = fromRecord(r);
      if (c === undefined || c.id === '') return undefined;
      out.push(c);
    }
    return out;
  }

  private takeRequestToken(peer: Peer): boolean {
    const s = this.state.get(peer);
    if (s === undefined) return false;
    const now = Date.now();
    s.tokens = Math.min(REQUEST_BURST, s.tokens + ((now - s.refillMs) * REQUEST_RATE) / 1000);
    s.refillMs = now;
    if (s.tokens >= 1) {
      s.tokens--;
      return true;
    }
    this.o.peers.misbehave(peer, REQUEST_FLOOD_POINTS, `discovery requests over ${REQUEST_RATE}/s`);
    return false;
  }

  // --- DHT ---

  /** Resolve a node id to its address: connected, in the table, or through an iterative lookup. */
  async findNode(nodeIdHex: string, timeoutMs: number): Promise<FindNodeResult> {
    const started = Date.now();
    const id = nodeIdHex.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new PheromonesError('invalid-argument', `"${nodeIdHex}" is not a node id (64 hex characters)`);
    if (id === this.o.localId) throw new PheromonesError('invalid-argument', 'that is this node itself');
    const result = await this.lookup(idBytes(id), started + timeoutMs, (c) => c.id === id);
    const found = result.goal;
    if (found === undefined) {
      throw new PheromonesError('not-found', `no node answered for ${id} within ${timeoutMs} ms (${result.queried} nodes queried)`);
    }
    return { nodeId: id, address: found.address, queried: result.queried, hops: result.hops, elapsedMs: Date.now() - started };
  }

  /** Lookups running or about to start (the self-lookup is counted from when it is scheduled). */
  get lookupsInFlight(): number {
    return this.lookups;
  }

  private async lookup(target: Buffer, deadlineMs = Date.now() + 10_000, isGoal?: (c: Contact) => boolean): ReturnType<typeof iterativeLookup> {
    this.lookups++;
    try {
      return await this.runLookup(target, deadlineMs, isGoal);
    } finally {
      this.lookups--;
    }
  }

  private async runLookup(target: Buffer, deadlineMs: number, isGoal?: (c: Contact) => boolean): ReturnType<typeof iterativeLookup> {
    this.table.touch(bucketIndex(this.table.selfId, target), Date.now());
    // Unverified addresses with ids from the peer store help when the table is still thin.
    const stored: Contact[] = this.o.store
      .list()
      .filter((e) => e.nodeId !== '' && this.table.get(e.nodeId) === undefined)
      .map((e) => ({ id: e.nodeId, address: e.address, lastSeenMs: e.lastSeenMs }));
    const start = [...this.table.closest(target, K), ...closestOf(stored, target, K)];
    const result = await iterativeLookup({
      target,
      start,
      selfId: this.o.localId,
      deadlineMs,
      isGoal,
      query: async (c) => {
        const nodes = await this.query(c, target, Math.min(this.o.tuning.queryTimeoutMs, Math.max(1, deadlineMs - Date.now())));
        this.heard({ ...c, lastSeenMs: Date.now() });
        this.o.store.learn(c.address, 'dht', c.id);
        return nodes;
      },
    });
    return result;
  }

  /** FIND_NODE to one contact: over its session if connected, else over a short-lived one. */
  private async query(c: Contact, target: Buffer, timeoutMs: number): Promise<Contact[]> {
    if (this.stopped) throw new PheromonesError('unavailable', 'the node is shutting down');
    const peer = this.o.peers.get(c.id);
    if (peer !== undefined && peer.open.has(this.name)) {
      try {
        return await this.queryPeer(peer, target, timeoutMs);
      } catch (err) {
        // The session went away mid-query (a seed let go, rebalancing): ask over a fresh one.
        if (!(err instanceof PheromonesError && err.kind === 'unavailable') || this.stopped) throw err;
      }
    }
    if (this.bannedFor(c.address, c.id) !== undefined) throw new PheromonesError('refused', `${c.address} is banned`);
    const { host, port } = parseAddress(c.address);
    const conn = await this.o.dial(host, port, timeoutMs);
    try {
      if (conn.remoteId !== c.id) throw new PheromonesError('failed-precondition', `${c.address} is ${conn.remoteId}, not ${c.id}`);
      return await this.queryConn(conn, target, timeoutMs);
    } finally {
      conn.close(DisconnectReason.REQUESTED, 'discovery query done');
    }
  }

  private queryPeer(peer: Peer, target: Buffer, timeoutMs: number): Promise<Contact[]> {
    return new Promise((resolve, reject) => {
      const requestId = randomBytes(8).readBigUInt64BE();
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        this.late.expect(nodeListKey(peer.id, requestId));
        reject(new PheromonesError('timeout', `no NodeList from ${peer.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { peerId: peer.id, resolve, reject, timer });
      if (!peer.send(envelope({ case: 'findNode', value: create(FindNodeSchema, { requestId, target }) }))) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new PheromonesError('unavailable', `peer ${peer.id} disconnected`));
      }
    });
  }

  private queryConn(conn: SecureConnection, target: Buffer, timeoutMs: number): Promise<Contact[]> {
    return new Promise((resolve, reject) => {
      const requestId = randomBytes(8).readBigUInt64BE();
      const done = (): void => {
        clearTimeout(timer);
        conn.off('message', onMessage);
        conn.off('close', onClose);
      };
      const onMessage = (env: Envelope): void => {
        if (env.kind.case !== 'nodeList' || env.kind.value.requestId !== requestId) return;
        done();
        const nodes = this.checkNodes(env.kind.value.nodes);
        if (nodes === undefined) reject(new PheromonesError('protocol-violation', `malformed NodeList from ${conn.remoteId}`));
        else resolve(nodes);
      };
      const onClose = (): void => {
        done();
        reject(new PheromonesError('unavailable', `${conn.remoteId} closed the query session`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new PheromonesError('timeout', `no NodeList from ${conn.remoteId} within ${timeoutMs} ms`));
      }, timeoutMs);
      conn.on('message', onMessage);
      conn.once('close', onClose);
      // Not a Peer (a query session): name the queue as the peer layer would.
      conn.send(envelope({ case: 'findNode', value: create(FindNodeSchema, { requestId, target }) }), this.name);
    });
  }

  /** A contact proved alive: into its bucket, pinging the bucket's oldest entry first when full. */
  private heard(c: Contact): void {
    if (c.id === this.o.localId) return;
    const r = this.table.add(c);
    if (r.kind !== 'full') return;
    const oldest = r.oldest;
    if (this.o.peers.get(oldest.id) !== undefined) {
      this.table.add({ ...oldest, lastSeenMs: Date.now() });
      return;
    }
    if (this.pinging.has(oldest.id) || this.pinging.size >= MAX_PINGS) return;
    this.pinging.add(oldest.id);
    this.query(oldest, this.table.selfId, this.o.tuning.queryTimeoutMs)
      .then(
        () => this.table.add({ ...oldest, lastSeenMs: Date.now() }),
        () => this.table.replace(oldest, c),
      )
      .finally(() => this.pinging.delete(oldest.id));
  }

  /** Look up a random id in every bucket not looked at for a refresh interval. */
  private async refresh(): Promise<void> {
    if (this.stopped) return;
    const stale = this.table.staleBuckets(Date.now() - this.o.tuning.refreshIntervalMs);
    for (const i of stale.slice(0, ALPHA_REFRESH)) {
      if (this.stopped) return;
      await this.lookup(randomIdInBucket(this.table.selfId, i, randomBytes)).catch(() => undefined);
    }
  }
}

/** Append `item` to a bounded most-recent list unless it is there already. */
function keepRecent(list: string[], item: string, max: number): void {
  if (list.includes(item)) return;
  list.push(item);
  if (list.length > max) list.shift();
}

function closestOf(contacts: Contact[], target: Buffer, count: number): Contact[] {
  return contacts
    .map((c) => ({ c, d: distance(idBytes(c.id), target) }))
    .sort((a, b) => Buffer.compare(a.d, b.d))
    .slice(0, count)
    .map((x) => x.c);
}

/** Stale buckets refreshed per round. */
const ALPHA_REFRESH = 3;

/** Where a peer can be dialled: the address we dialled, or its host with its advertised listen port. */
export function dialAddress(peer: Peer): string {
  return peer.direction === 'outbound' ? peer.address : peer.listenAddress;
}

function toRecord(c: Contact): NodeRecord {
  return create(NodeRecordSchema, { nodeId: c.id === '' ? new Uint8Array(0) : idBytes(c.id), address: c.address });
}

/** A record as a contact (id '' when absent), or undefined when malformed. */
function fromRecord(r: NodeRecord): Contact | undefined {
  if (r.nodeId.length !== 0 && r.nodeId.length !== 32) return undefined;
  if (r.address.length > 300) return undefined;
  try {
    const { host, port } = parseAddress(r.address);
    if (isIP(host) === 0) return undefined;
    return { id: r.nodeId.length === 0 ? '' : toHex(r.nodeId), address: formatAddress(host, port), lastSeenMs: Date.now() };
  } catch {
    return undefined;
  }
}

function hostKey(host: string): string {
  return normaliseHost(host);
}

function isAddress(target: string): boolean {
  try {
    parseAddress(target);
    return true;
  } catch {
    return false;
  }
}

/** A ban target in its one spelling: lowercase node id, normalised host:port, or a bare IP. */
export function normaliseTarget(target: string): string {
  const t = target.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return t.toLowerCase();
  if (isAddress(t)) {
    const { host, port } = parseAddress(t);
    return formatAddress(host, port);
  }
  const h = hostKey(t);
  if (isIP(h) !== 0) return h;
  throw new PheromonesError('invalid-argument', `"${target}" is neither a node id (64 hex), a host:port nor an IP address`);
}
