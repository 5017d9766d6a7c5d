import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import { DisconnectReason, PingSchema, PongSchema, type Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import type { DisconnectCause, PeerEvent, PeerSessionInfo } from './types.js';
import { HandshakeError } from '../transport/index.js';
import { CONTROL_QUEUE, DEFAULT_QUEUE, type CloseInfo, type Direction, type SecureConnection } from '../transport/types.js';
import { formatAddress, normaliseHost, ownHosts, parseAddress } from './address.js';
import { backoffDelay } from './backoff.js';
import { newConnectionWins } from './duplicate.js';
import { envelope, Peer, type QueueOf } from './peer.js';
import { CONTROL_CASES, type EnvelopeCase, type Protocol } from './protocol.js';
import { causeOf } from './reasons.js';

/** Dial host:port and complete the secure handshake (the transport, injected so this layer can be tested alone). */
export type Dialer = (host: string, port: number, timeoutMs: number) => Promise<SecureConnection>;

/** The node's settings this layer reads (a subset of NodeTuning). */
export interface PeerTuning {
  handshakeTimeoutMs: number;
  /** Bytes a peer's send queue may hold before the peer is dropped as a slow reader. */
  maxQueuedBytes: number;
  pingIntervalMs: number;
  /** A peer silent for this long is dropped. */
  pingTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export interface PeerManagerOptions {
  localId: string;
  tuning: PeerTuning;
  maxInbound: number;
  maxOutbound: number;
  logger: Logger;
  dial: Dialer;
  /** Flood limit: frames a peer may send per second on average (default 20000, far above what gossip sends) ... */
  frameRate?: number;
  /** ... and in one burst (default 50000). */
  frameBurst?: number;
  /** Misbehaviour points at which a peer is banned (default 100). */
  banThreshold?: number;
}

/**
 * What the layers above decide about peers: discovery supplies it (ban list,
 * bans on misbehaviour) once it exists.
 */
export interface PeerPolicy {
  /** Why an authenticated connection must be refused as banned, or undefined to admit it. */
  refuse?(conn: SecureConnection): string | undefined;
  /** The peer crossed the ban threshold; `reason` is the last offence. */
  onBan?(peer: Peer, reason: string): void;
}

/** The protocol a query session speaks (and nothing else). */
export const QUERY_PROTOCOL = 'discovery';
/** Query sessions served at once; more are refused with TOO_MANY_PEERS. */
const MAX_QUERY_SESSIONS = 32;
/** A query session is closed after this long whatever happens. */
const QUERY_SESSION_MS = 15_000;

/**
 * A session opened only to ask a discovery question: it speaks discovery
 * alone. Its listen port, when not 0, is where the asker can be reached, so
 * that the node asked can add it to its routing table as Kademlia does.
 */
export function isQuerySession(conn: SecureConnection): boolean {
  const p = conn.remoteHello.protocols;
  return conn.direction === 'inbound' && p.length === 1 && p[0]?.name === QUERY_PROTOCOL;
}

/** Misbehaviour points, by offence (docs/protocol.md, "Misbehaviour and bans"). */
export const MISBEHAVIOUR = {
  /** Bad frames, undecodable or oversized messages, messages for protocols not negotiated. */
  violation: 100,
  /** A protocol handler rejected a message as a violation. */
  protocolError: 50,
  /** A malformed, oversized or unsolicited discovery answer. */
  badDiscoveryAnswer: 25,
  /** One frame past the flood limit. */
  flood: 1,
} as const;

/** A peer to keep connected: dialled at start, redialled with backoff whenever the link drops. */
interface PersistentEntry {
  key: string;
  host: string;
  port: number;
  nodeId: string | undefined;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Holds one live session per remote node id: admits connections from both
 * directions (duplicate rule, self check, slots), dispatches envelopes to the
 * registered protocols, runs keep-alive, and keeps persistent peers dialled.
 */
export class PeerManager {
  private readonly live = new Map<string, Peer>();
  private readonly protocolsByName = new Map<string, Protocol>();
  private readonly protocolsByCase = new Map<EnvelopeCase, Protocol>();
  private readonly persistent = new Map<string, PersistentEntry>();
  private readonly pendingDials = new Map<string, Promise<Peer>>();
  /** Losing duplicates still being read for a grace period (connection → its close timer). */
  private readonly retiring = new Map<SecureConnection, NodeJS.Timeout>();
  private readonly listeners = new Set<(ev: PeerEvent) => void>();
  private readonly querySessions = new Set<Peer>();
  private readonly log: Logger;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private listenPort = 0;
  private selfHosts = new Set<string>();
  private stopped = false;
  private policy: PeerPolicy = {};
  private readonly frameRate: number;
  private readonly frameBurst: number;
  private readonly banThreshold: number;

  constructor(private readonly opts: PeerManagerOptions) {
    this.log = opts.logger;
    this.frameRate = opts.frameRate ?? 20_000;
    this.frameBurst = opts.frameBurst ?? 50_000;
    this.banThreshold = opts.banThreshold ?? 100;
  }

  setPolicy(policy: PeerPolicy): void {
    this.policy = policy;
  }

  get maxOutbound(): number {
    return this.opts.maxOutbound;
  }

  get maxInbound(): number {
    return this.opts.maxInbound;
  }

  /** Outbound dials in progress (each holds an outbound slot until it ends). */
  pendingOutbound(): number {
    return this.pendingDials.size;
  }

  /** True while a dial to this host:port is under way. */
  isDialling(address: string): boolean {
    return this.pendingDials.has(address);
  }

  /** Tell event listeners (bans made above this layer travel with peer events). */
  notify(ev: PeerEvent): void {
    this.emit(ev);
  }

  /** Close a live peer's session with `reason`; false if not connected. */
  disconnect(nodeId: string, reason: DisconnectReason, detail: string): boolean {
    const peer = this.live.get(nodeId);
    if (peer === undefined) return false;
    this.closePeer(peer, reason, detail);
    return true;
  }

  /**
   * Add misbehaviour points; at the threshold the peer is banned (through
   * the policy) and, unless already closing, disconnected with BANNED.
   */
  misbehave(peer: Peer, points: number, reason: string): void {
    if (peer.banned) return;
    peer.score += points;
    this.log.debug({ peer: peer.id, points, score: peer.score, reason }, 'peer misbehaved');
    if (peer.score < this.banThreshold) return;
    peer.banned = true;
    this.log.warn({ peer: peer.id, address: peer.address, score: peer.score, reason }, 'peer banned for misbehaviour');
    this.guard(() => this.policy.onBan?.(peer, reason), 'ban policy');
    if (!peer.closed) this.closePeer(peer, DisconnectReason.BANNED, `banned: ${reason}`);
  }

  get localId(): string {
    return this.opts.localId;
  }

  /** Session control has its own queue, served first; every protocol's frames go on a queue named after it. */
  private readonly queueOf: QueueOf = (c) => {
    if (c === undefined) return DEFAULT_QUEUE;
    if (CONTROL_CASES.has(c)) return CONTROL_QUEUE;
    return this.protocolsByCase.get(c)?.name ?? DEFAULT_QUEUE;
  };

  registerProtocol(protocol: Protocol): void {
    if (this.protocolsByName.has(protocol.name)) {
      throw new PheromonesError('already-exists', `protocol "${protocol.name}" is already registered`);
    }
    for (const c of protocol.envelopes) {
      const owner = this.protocolsByCase.get(c);
      if (owner !== undefined) throw new PheromonesError('already-exists', `envelope "${c}" already belongs to protocol "${owner.name}"`);
    }
    this.protocolsByName.set(protocol.name, protocol);
    for (const c of protocol.envelopes) this.protocolsByCase.set(c, protocol);
  }

  /** What the handshake advertises. */
  localProtocols(): { name: string; versions: number[] }[] {
    return [...this.protocolsByName.values()].map((p) => ({ name: p.name, versions: [...p.versions] }));
  }

  /** Where our listener is, so we never dial it. */
  setListenAddress(host: string, port: number): void {
    this.listenPort = port;
    this.selfHosts = ownHosts(host);
  }

  start(): void {
    const t = this.opts.tuning;
    const tick = Math.max(10, Math.min(t.pingIntervalMs, Math.floor(t.pingTimeoutMs / 2)));
    this.keepAliveTimer = setInterval(() => this.keepAlive(), tick);
    this.keepAliveTimer.unref();
  }

  onEvent(listener: (ev: PeerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(nodeId: string): Peer | undefined {
    return this.live.get(nodeId);
  }

  peers(): Peer[] {
    return [...this.live.values()];
  }

  list(): PeerSessionInfo[] {
    return this.peers().map((p) => p.info());
  }

  count(direction: Direction): number {
    let n = 0;
    for (const p of this.live.values()) if (p.direction === direction) n++;
    return n;
  }

  isOwnAddress(host: string, port: number): boolean {
    return this.listenPort !== 0 && port === this.listenPort && this.selfHosts.has(normaliseHost(host));
  }

  /** A connection the listener accepted, handshake done. */
  accept(conn: SecureConnection): void {
    try {
      this.admit(conn, false);
    } catch (err) {
      this.log.debug({ peer: conn.remoteId, err: (err as Error).message }, 'inbound connection refused');
    }
  }

  /**
   * Dial `address` (unless already connected to it) and resolve with the
   * session. Persistent peers are redialled whenever the link drops.
   */
  async connect(address: string, options: { persistent: boolean; timeoutMs: number; extra?: boolean }): Promise<Peer> {
    const { host, port } = parseAddress(address);
    const key = formatAddress(host, port);
    if (this.isOwnAddress(host, port)) {
      throw new PheromonesError('invalid-argument', `${key} is this node's own listen address`);
    }
    const timeoutMs = options.timeoutMs > 0 ? options.timeoutMs : this.opts.tuning.handshakeTimeoutMs;
    let peer: Peer;
    try {
      peer = await this.dialOnce(host, port, timeoutMs, options.persistent, options.extra === true);
    } catch (err) {
      if (err instanceof HandshakeError && err.reason === DisconnectReason.SELF) {
        throw new PheromonesError('invalid-argument', `${key} is this node itself`, { cause: err });
      }
      throw err;
    }
    if (options.persistent) {
      peer.persistent = true;
      const entry = this.persistentEntry(host, port);
      entry.nodeId = peer.id;
      entry.attempt = 0;
    }
    return peer;
  }

  /** Keep `address` connected from now on; the first dial happens in the background. */
  addPersistent(address: string): void {
    const { host, port } = parseAddress(address);
    if (this.isOwnAddress(host, port)) {
      this.log.warn({ address }, 'not dialling a persistent peer that is this node itself');
      return;
    }
    const entry = this.persistentEntry(host, port);
    if (entry.timer === undefined) {
      entry.timer = setTimeout(() => void this.redial(entry), 0);
      entry.timer.unref();
    }
  }

  /** Disconnect by node id or address and stop redialling it. */
  remove(idOrAddress: string): PeerSessionInfo {
    let peer = this.live.get(idOrAddress.toLowerCase());
    let key: string | undefined;
    if (peer === undefined) {
      try {
        const { host, port } = parseAddress(idOrAddress);
        key = formatAddress(host, port);
        peer = this.findByAddress(key);
      } catch {
        // not an address either: not found below
      }
    }
    const entries = [...this.persistent.values()].filter(
      (e) =>
        e.key === key ||
        e.nodeId === idOrAddress.toLowerCase() ||
        (peer !== undefined && (e.nodeId === peer.id || e.key === peer.address || e.key === peer.listenAddress)),
    );
    for (const e of entries) this.forget(e);
    if (peer !== undefined) {
      peer.persistent = false;
      const info = peer.info();
      this.closePeer(peer, DisconnectReason.REQUESTED, 'removed by the operator');
      return info;
    }
    const entry = entries[0];
    if (entry === undefined) throw new PheromonesError('not-found', `no peer "${idOrAddress}" (neither a connected node id nor an address)`);
    return {
      nodeId: entry.nodeId ?? '',
      address: entry.key,
      listenAddress: entry.key,
      direction: 'outbound',
      connectedSinceMs: 0,
      rttMs: -1,
      bytesIn: 0,
      bytesOut: 0,
      messagesIn: 0,
      messagesOut: 0,
      protocols: [],
      userAgent: '',
      persistent: true,
      traffic: [],
    };
  }

  /** Disconnect every peer (REQUESTED), stop timers and redials; resolves once the connections are closed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer);
    for (const e of this.persistent.values()) this.forget(e);
    for (const q of this.querySessions) q.conn.close(DisconnectReason.REQUESTED, 'node shutting down');
    for (const [conn, timer] of this.retiring) {
      clearTimeout(timer);
      conn.close(DisconnectReason.DUPLICATE, 'node shutting down');
    }
    this.retiring.clear();
    const closing = this.peers().map((p) => {
      const done = waitClosed(p.conn);
      this.closePeer(p, DisconnectReason.REQUESTED, 'node shutting down');
      return done;
    });
    await Promise.race([Promise.all(closing), delay(2000)]);
  }

  /** `extra`: may take one outbound slot beyond maxOutbound (the discovery engine's rotating extra peer). */
  private dialOnce(host: string, port: number, timeoutMs: number, persistent: boolean, extra = false): Promise<Peer> {
    if (this.stopped) return Promise.reject(new PheromonesError('unavailable', 'the node is shutting down'));
    const key = formatAddress(host, port);
    const existing = this.findByAddress(key);
    if (existing !== undefined) return Promise.resolve(existing);
    const pending = this.pendingDials.get(key);
    if (pending !== undefined) return pending;
    const slots = this.opts.maxOutbound + (extra ? 1 : 0);
    if (!persistent && this.count('outbound') + this.pendingDials.size >= slots) {
      return Promise.reject(
        new PheromonesError('resource-exhausted', `all ${this.opts.maxOutbound} outbound slots are in use; add it as persistent or raise --max-outbound`),
      );
    }
    const dial = this.opts
      .dial(host, port, timeoutMs)
      .then((conn) => this.admit(conn, persistent, extra))
      .finally(() => this.pendingDials.delete(key));
    this.pendingDials.set(key, dial);
    return dial;
  }

  private admit(conn: SecureConnection, persistentHint: boolean, extraSlot = false): Peer {
    if (this.stopped) {
      conn.close(DisconnectReason.REQUESTED, 'node shutting down');
      throw new PheromonesError('unavailable', 'the node is shutting down');
    }
    if (conn.remoteId === this.opts.localId) {
      conn.close(DisconnectReason.SELF, 'connected to itself');
      throw new PheromonesError('invalid-argument', 'that address is this node itself');
    }
    const banned = this.policy.refuse?.(conn);
    if (banned !== undefined) {
      conn.close(DisconnectReason.BANNED, banned);
      throw new PheromonesError('refused', `${conn.remoteId} at ${formatAddress(conn.remoteAddress, conn.remotePort)} is banned: ${banned}`);
    }
    if (isQuerySession(conn)) return this.admitQuery(conn);
    const entry = this.persistentFor(conn);
    const persistent = persistentHint || entry !== undefined;
    const existing = this.live.get(conn.remoteId);
    if (existing !== undefined) {
      if (!newConnectionWins(this.opts.localId, conn.remoteId, existing.direction, conn.direction)) {
        this.retire(conn, undefined);
        if (persistent) existing.persistent = true;
        if (entry !== undefined) entry.nodeId = existing.id;
        return existing;
      }
      persistentHint ||= existing.persistent;
    } else if (!persistent) {
      const max = conn.direction === 'inbound' ? this.opts.maxInbound : this.opts.maxOutbound + (extraSlot ? 1 : 0);
      if (this.count(conn.direction) >= max) {
        conn.close(DisconnectReason.TOO_MANY_PEERS, `all ${max} ${conn.direction} slots are in use`);
        throw new PheromonesError('resource-exhausted', `no free ${conn.direction} slot for ${conn.remoteId}`);
      }
    }
    if (conn.closed) throw new PheromonesError('unavailable', `connection to ${conn.remoteId} closed during the handshake`);

    const peer = new Peer(conn, this.opts.tuning.maxQueuedBytes, persistent || persistentHint, Date.now(), this.queueOf);
    if (entry !== undefined) {
      entry.nodeId = peer.id;
      entry.attempt = 0;
    }
    this.live.set(peer.id, peer);
    if (existing !== undefined) {
      // After the new session is in place, so that nothing schedules a redial.
      this.finish(existing, 'duplicate', 'replaced by the connection dialled by the lower node id');
      this.retire(existing.conn, existing);
    }
    conn.on('message', (env: Envelope) => this.onEnvelope(peer, env));
    conn.once('close', (info: CloseInfo) => {
      const detail = info.detail || (info.error?.message ?? '');
      // Undecodable or oversized frames in an authenticated record are caught by the transport, which
      // closes; only those are the peer's doing (a record that fails to authenticate is the path's).
      const violation = !peer.closed && !info.remote && info.offence === true;
      this.finish(peer, causeOf(info.reason), detail);
      if (violation) this.misbehave(peer, MISBEHAVIOUR.violation, detail);
    });
    for (const [name, protocol] of this.protocolsByName) {
      const versions = peer.remoteProtocols.get(name);
      if (versions !== undefined && versions.some((v) => protocol.versions.includes(v))) peer.open.add(name);
    }
    this.log.info({ peer: peer.id, address: peer.address, direction: peer.direction }, 'peer connected');
    // The round trip is known from the start (gossip weighs its links by it), not only after the first keep-alive tick.
    this.ping(peer, Date.now());
    for (const name of peer.open) this.guard(() => this.protocolsByName.get(name)?.onOpen?.(peer), `${name} onOpen`);
    this.emit({ type: 'connected', peer: peer.info() });
    return peer;
  }

  /** Serve a query session beside (never instead of) any real session with the same node. */
  private admitQuery(conn: SecureConnection): Peer {
    if (this.querySessions.size >= MAX_QUERY_SESSIONS) {
      conn.close(DisconnectReason.TOO_MANY_PEERS, `${MAX_QUERY_SESSIONS} discovery query sessions already open`);
      throw new PheromonesError('resource-exhausted', `no room for a query session from ${conn.remoteId}`);
    }
    const peer = new Peer(conn, this.opts.tuning.maxQueuedBytes, false, Date.now(), this.queueOf);
    peer.transient = true;
    const protocol = this.protocolsByName.get(QUERY_PROTOCOL);
    if (protocol !== undefined) peer.open.add(QUERY_PROTOCOL);
    this.querySessions.add(peer);
    const timer = setTimeout(() => conn.close(DisconnectReason.TIMEOUT, 'query session lifetime over'), QUERY_SESSION_MS);
    timer.unref();
    conn.on('message', (env: Envelope) => this.onEnvelope(peer, env));
    conn.once('close', () => {
      clearTimeout(timer);
      this.querySessions.delete(peer);
      if (peer.closed) return;
      peer.closed = true;
      if (protocol !== undefined) this.guard(() => protocol.onClose?.(peer, 'requested'), `${QUERY_PROTOCOL} onClose`);
    });
    if (protocol !== undefined) this.guard(() => protocol.onOpen?.(peer), `${QUERY_PROTOCOL} onOpen`);
    return peer;
  }

  /**
   * Until the remote end has seen the winning connection too, it may still
   * send on the losing one; closing that at once would lose those messages.
   * So the loser is never sent on again, but what arrives on it for a grace
   * period is handled as if it came over the winner; then it is closed.
   */
  private retire(conn: SecureConnection, replaced: Peer | undefined): void {
    if (conn.closed) return;
    const grace = Math.min(this.opts.tuning.handshakeTimeoutMs, DUPLICATE_GRACE_MS);
    const timer = setTimeout(() => {
      this.retiring.delete(conn);
      conn.close(DisconnectReason.DUPLICATE, 'a connection dialled by the lower node id is kept');
    }, grace);
    timer.unref();
    this.retiring.set(conn, timer);
    conn.once('close', () => {
      clearTimeout(timer);
      this.retiring.delete(conn);
    });
    if (replaced === undefined) conn.on('message', (env: Envelope) => this.onRetiredEnvelope(conn, env));
  }

  private onRetiredEnvelope(conn: SecureConnection, env: Envelope): void {
    if (!this.retiring.has(conn)) return;
    const winner = this.live.get(conn.remoteId);
    const c = env.kind.case;
    if (winner === undefined || c === 'ping' || c === 'pong') return;
    this.onEnvelope(winner, env);
  }

  private onEnvelope(peer: Peer, env: Envelope): void {
    if (peer.closed) {
      if (this.retiring.has(peer.conn)) this.onRetiredEnvelope(peer.conn, env);
      return;
    }
    const now = Date.now();
    peer.messagesIn++;
    peer.lastHeardMs = now;
    if (!this.takeFrameToken(peer, now)) {
      this.misbehave(peer, MISBEHAVIOUR.flood, `flood: over ${this.frameRate} frames/s`);
      return;
    }
    const kind = env.kind;
    if (kind.case === 'ping') {
      peer.send(envelope({ case: 'pong', value: create(PongSchema, { value: kind.value.value }) }));
      return;
    }
    if (kind.case === 'pong') {
      if (peer.pingValue !== undefined && kind.value.value === peer.pingValue) {
        peer.rttMs = now - peer.pingSentMs;
        peer.pingValue = undefined;
      }
      return;
    }
    const protocol = kind.case === undefined ? undefined : this.protocolsByCase.get(kind.case);
    if (protocol === undefined) {
      this.violation(peer, MISBEHAVIOUR.violation, `unexpected ${kind.case ?? 'empty'} message`);
      return;
    }
    if (!peer.open.has(protocol.name)) {
      this.violation(peer, MISBEHAVIOUR.violation, `${kind.case} message without advertising protocol ${protocol.name}`);
      return;
    }
    try {
      const result = protocol.onMessage(peer, env);
      if (result !== undefined) result.catch((err: unknown) => this.protocolError(peer, protocol, err));
    } catch (err) {
      this.protocolError(peer, protocol, err);
    }
  }

  private protocolError(peer: Peer, protocol: Protocol, err: unknown): void {
    if (err instanceof PheromonesError && err.kind === 'protocol-violation') {
      this.violation(peer, MISBEHAVIOUR.protocolError, `${protocol.name}: ${err.message}`);
      return;
    }
    if (err instanceof PheromonesError && err.kind === 'resource-exhausted') {
      // One of our own limits (work queued for this peer): the link goes, the peer is not blamed.
      if (!peer.closed) this.closePeer(peer, DisconnectReason.REQUESTED, `${protocol.name}: ${err.message}`);
      return;
    }
    if (peer.closed || this.stopped) return;
    this.log.error({ peer: peer.id, protocol: protocol.name, err }, 'protocol handler failed');
  }

  /** Drop the peer for a protocol violation (the reason it hears), then score it. */
  private violation(peer: Peer, points: number, detail: string): void {
    if (!peer.closed) this.closePeer(peer, DisconnectReason.PROTOCOL_VIOLATION, detail);
    this.misbehave(peer, points, detail);
  }

  /** Token bucket on frames: refilled at frameRate per second up to frameBurst. */
  private takeFrameToken(peer: Peer, now: number): boolean {
    if (peer.frameRefillMs === 0) {
      peer.frameTokens = this.frameBurst;
    } else {
      peer.frameTokens = Math.min(this.frameBurst, peer.frameTokens + ((now - peer.frameRefillMs) * this.frameRate) / 1000);
    }
    peer.frameRefillMs = now;
    if (peer.frameTokens < 1) return false;
    peer.frameTokens--;
    return true;
  }

  private keepAlive(): void {
    const t = this.opts.tuning;
    const now = Date.now();
    for (const peer of this.peers()) {
      if (now - peer.lastHeardMs > t.pingTimeoutMs) {
        this.closePeer(peer, DisconnectReason.TIMEOUT, `nothing heard for ${now - peer.lastHeardMs} ms`);
        continue;
      }
      if (now - peer.pingSentMs >= t.pingIntervalMs) this.ping(peer, now);
      peer.checkQueue();
    }
  }

  private ping(peer: Peer, now: number): void {
    const value = randomBytes(8).readBigUInt64BE();
    peer.pingValue = value;
    peer.pingSentMs = now;
    peer.send(envelope({ case: 'ping', value: create(PingSchema, { value }) }));
  }

  private closePeer(peer: Peer, reason: DisconnectReason, detail: string): void {
    peer.conn.close(reason, detail);
    if (!peer.transient) this.finish(peer, causeOf(reason), detail);
  }

  /** Let go of a session: protocols and listeners hear about it once; persistent peers get redialled. */
  private finish(peer: Peer, cause: DisconnectCause, detail: string): void {
    if (peer.closed) return;
    peer.closed = true;
    if (this.live.get(peer.id) === peer) this.live.delete(peer.id);
    for (const name of peer.open) this.guard(() => this.protocolsByName.get(name)?.onClose?.(peer, cause), `${name} onClose`);
    this.log.info({ peer: peer.id, address: peer.address, cause, detail }, 'peer disconnected');
    this.emit({ type: 'disconnected', peer: peer.info(), reason: cause, detail });
    if (this.stopped || this.live.has(peer.id)) return;
    for (const e of this.persistent.values()) {
      if (e.nodeId === peer.id || e.key === peer.address || e.key === peer.listenAddress) this.scheduleRedial(e);
    }
  }

  private scheduleRedial(entry: PersistentEntry): void {
    if (this.stopped || entry.timer !== undefined || this.persistent.get(entry.key) !== entry) return;
    const t = this.opts.tuning;
    const wait = backoffDelay(entry.attempt++, t.reconnectBaseMs, t.reconnectMaxMs);
    this.log.debug({ address: entry.key, waitMs: wait }, 'redial scheduled');
    entry.timer = setTimeout(() => void this.redial(entry), wait);
    entry.timer.unref();
  }

  private async redial(entry: PersistentEntry): Promise<void> {
    entry.timer = undefined;
    if (this.stopped || this.persistent.get(entry.key) !== entry) return;
    if (entry.nodeId !== undefined && this.live.has(entry.nodeId)) return;
    try {
      const peer = await this.dialOnce(entry.host, entry.port, this.opts.tuning.handshakeTimeoutMs, true);
      peer.persistent = true;
      entry.nodeId = peer.id;
      entry.attempt = 0;
    } catch (err) {
      if (err instanceof HandshakeError && err.reason === DisconnectReason.SELF) {
        this.log.warn({ address: entry.key }, 'persistent peer is this node itself; not dialling it again');
        this.forget(entry);
        return;
      }
      this.log.debug({ address: entry.key, err: (err as Error).message }, 'dial to persistent peer failed');
      if (entry.nodeId === undefined || !this.live.has(entry.nodeId)) this.scheduleRedial(entry);
    }
  }

  private persistentEntry(host: string, port: number): PersistentEntry {
    const key = formatAddress(host, port);
    let entry = this.persistent.get(key);
    if (entry === undefined) {
      entry = { key, host: normaliseHost(host), port, nodeId: undefined, attempt: 0, timer: undefined };
      this.persistent.set(key, entry);
    }
    return entry;
  }

  private persistentFor(conn: SecureConnection): PersistentEntry | undefined {
    const listen = conn.remoteHello.listenPort > 0 ? formatAddress(conn.remoteAddress, conn.remoteHello.listenPort) : '';
    const remote = formatAddress(conn.remoteAddress, conn.remotePort);
    for (const e of this.persistent.values()) {
      if (e.nodeId === conn.remoteId || e.key === listen || e.key === remote) return e;
    }
    return undefined;
  }

  private forget(entry: PersistentEntry): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.persistent.get(entry.key) === entry) this.persistent.delete(entry.key);
  }

  private findByAddress(key: string): Peer | undefined {
    for (const p of this.live.values()) if (p.address === key || p.listenAddress === key) return p;
    return undefined;
  }

  private emit(ev: PeerEvent): void {
    for (const l of this.listeners) this.guard(() => l(ev), 'peer event listener');
  }

  private guard(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, `${what} threw`);
    }
  }
}

/** How long a losing duplicate connection is still read before it is closed. */
const DUPLICATE_GRACE_MS = 2_000;


function waitClosed(conn: SecureConnection): Promise<void> {
  if (conn.closed) return Promise.resolve();
  return new Promise((resolve) => conn.once('close', () => resolve()));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
