import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PheromonesError } from '../errors.js';
import { chainParamsFor } from '../chain/params.js';
import { ChainNode } from '../chain/service.js';
import { signMessage } from '../crypto/secp256k1.js';
import { loadOrCreateIdentity, signingKeyOf, type NodeIdentity } from '../crypto/identity.js';
import { networkIdFor } from '../crypto/network.js';
import { Discovery } from '../discovery/discovery.js';
import { Gossip, type GossipStats } from '../gossip/gossip.js';
import { emptyStats as emptyGossipStats } from '../gossip/stats.js';
import { formatAddress, parseAddress } from '../peer/address.js';
import { PeerManager, QUERY_PROTOCOL } from '../peer/peer-manager.js';
import type { Protocol } from '../peer/protocol.js';
import { openDatabase, type Database } from '../store/database.js';
import { MessageLog } from '../store/message-log.js';
import { PortMapper } from '../nat/port-mapper.js';
import { dialSecure, listenSecure, PROTOCOL_VERSION, type SecureListener } from '../transport/index.js';
import type { LocalHello, SecureTransportOptions } from '../transport/types.js';
import { DEFAULT_TUNING, type NodeConfig, type NodeTransport, type NodeTuning } from './config.js';
import { DirectProtocol } from './direct.js';
import { HandshakeCounts, handshakeFailure, type HandshakeCount } from './handshake-counts.js';
import type { DirectMessage, DiscoveryApi, NodeApi, NodeInfo, NodePeerEvent, PeerInfo, StoredMessage } from './types.js';
import { waitAtMost } from '../wait.js';

const TCP_TRANSPORT: NodeTransport = { dial: (host, port, options) => dialSecure(host, port, options), listen: listenSecure };

/** Everything that exists only while the node runs. */
interface Running {
  db: Database;
  log: MessageLog;
  identity: NodeIdentity;
  peers: PeerManager;
  gossip: Gossip;
  direct: DirectProtocol;
  chain: ChainNode;
  nat: PortMapper | undefined;
  listener: SecureListener;
  listenAddress: string;
  listenPort: number;
  networkId: number;
  version: string;
  startedAtMs: number;
}

function packageVersion(): string {
  // dist/src/node/node.js sits three levels below the package root.
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * One pheromones node: identity, LevelDB store, listener, peer manager and
 * the protocols on top. No global state, so many nodes can run in one
 * process. Listeners may subscribe before start().
 */
export class Node implements NodeApi {
  readonly tuning: NodeTuning;
  private run: Running | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private isReady = false;
  private readonly messageListeners = new Set<(msg: StoredMessage) => void>();
  private readonly directListeners = new Set<(msg: DirectMessage) => void>();
  private readonly peerListeners = new Set<(ev: NodePeerEvent) => void>();
  private readonly extraProtocols: Protocol[] = [];
  private disc: Discovery | undefined;
  private readonly handshakes = new HandshakeCounts();

  constructor(readonly config: NodeConfig) {
    this.tuning = { ...DEFAULT_TUNING, ...config.tuning };
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** Hex node id; known once start() has loaded the identity. */
  get nodeId(): string {
    return this.run?.identity.nodeIdHex ?? '';
  }

  /** host:port the P2P listener is bound to, with the real port. */
  get listenAddress(): string {
    return this.run?.listenAddress ?? '';
  }

  get listenPort(): number {
    return this.run?.listenPort ?? 0;
  }

  /** Gossip counters (frames sent/received, duplicates, deliveries); still readable after stop(). */
  get gossipStats(): GossipStats {
    return { ...(this.run?.gossip.stats ?? emptyGossipStats()) };
  }

  /** Where the node is in gossip's rooted tree (root, distance, parent); undefined before start or when flooding. */
  get gossipTree(): ReturnType<Gossip['treeState']> {
    return this.run?.gossip.treeState();
  }

  /** Entries in the gossip seen cache (message ids remembered to drop copies); 0 before start. */
  get seenCacheSize(): number {
    return this.run?.gossip.seenSize ?? 0;
  }

  /** Messages in the persistent message log; 0 before start. */
  get messageLogSize(): number {
    return this.run?.log.size ?? 0;
  }

  /** Handshakes since start, by direction and outcome (the query sessions of discovery included). */
  handshakeCounts(): HandshakeCount[] {
    return this.handshakes.list();
  }

  /**
   * Speak one more protocol on every session (discovery, chain...). Only
   * before start(): the handshake advertises the set.
   */
  registerProtocol(protocol: Protocol): void {
    if (this.starting !== undefined) {
      throw new PheromonesError('failed-precondition', `protocol "${protocol.name}" must be registered before the node starts`);
    }
    this.extraProtocols.push(protocol);
  }

  start(): Promise<void> {
    if (this.stopping !== undefined) return Promise.reject(new PheromonesError('failed-precondition', 'this node was stopped; create a new Node'));
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const c = this.config;
    const t = this.tuning;
    // Bad input fails before anything is opened.
    for (const address of c.peers) parseAddress(address);
    await mkdir(c.dataDir, { recursive: true });
    const db = await (c.openDatabase?.() ?? openDatabase(join(c.dataDir, 'db'), c.dataDir, t.dbCacheMiB));
    const net = c.transport ?? TCP_TRANSPORT;
    let peers: PeerManager | undefined;
    let listener: SecureListener | undefined;
    let chain: ChainNode | undefined;
    try {
      const log = await MessageLog.open(db);
      const identity = c.identity ?? (await loadOrCreateIdentity(c.dataDir));
      const logger = c.logger;
      const version = packageVersion();
      const networkId = networkIdFor(c.network);
      peers = new PeerManager({
        localId: identity.nodeIdHex,
        tuning: t,
        maxInbound: c.maxInbound,
        maxOutbound: c.maxOutbound,
        logger,
        dial: (host, port, timeoutMs) => this.handshakes.dial(net.dial(host, port, { ...transport, handshakeTimeoutMs: timeoutMs })),
      });
      const manager = peers;
      const nat = c.nat === undefined || c.nat.mode === 'none' ? undefined : new PortMapper(c.nat, logger);
      const discovery = await Discovery.open(db, {
        localId: identity.nodeIdHex,
        peers: manager,
        // Query sessions speak discovery alone, so the far end serves them beside any real session; they carry our
        // listen port so that the node asked can add us to its routing table.
        dial: (host, port, timeoutMs) =>
          this.handshakes.dial(
            net.dial(host, port, {
              ...transport,
              hello: { ...hello, protocols: [{ name: QUERY_PROTOCOL, versions: [...discovery.versions] }] },
              handshakeTimeoutMs: timeoutMs,
            }),
          ),
        seeds: c.seeds ?? [],
        tuning: c.discovery,
        logger,
        ownAddresses: () => {
          const a = nat?.externalAddress() ?? '';
          return a === '' ? [] : [a];
        },
      });
      manager.registerProtocol(discovery);
      manager.setPolicy(discovery.policy());
      this.disc = discovery;
      const gossip = new Gossip({
        localId: identity.nodeId,
        ttl: t.gossipTtl,
        maxFrameBytes: t.maxFrameBytes,
        seenCacheEntries: t.seenCacheEntries,
        seenCacheTtlMs: t.seenCacheTtlMs,
        mode: t.gossipMode,
        ihaveFlushMs: t.gossipIHaveFlushMs,
        ihaveIntervalMs: t.gossipIHaveIntervalMs,
        graftTimeoutMs: t.gossipGraftTimeoutMs,
        graftRetryMs: Math.max(1, Math.round(t.gossipGraftTimeoutMs / 2)),
        log,
        logger,
      });
      const direct = new DirectProtocol(logger);
      const chainNode = await ChainNode.open({
        db,
        params: chainParamsFor(c.network),
        logger,
        signer: { publicKey: identity.publicKey, sign: (m) => signMessage(signingKeyOf(identity), m) },
        announce: (topic, payload) => gossip.broadcast(topic, payload),
        maxFrameBytes: t.maxFrameBytes,
        ...c.chain,
      });
      chain = chainNode;
      manager.registerProtocol(gossip);
      manager.registerProtocol(direct);
      for (const p of this.extraProtocols) manager.registerProtocol(p);
      manager.registerProtocol(chainNode.protocol);
      gossip.onDeliver((msg) => emitAll(this.messageListeners, msg, logger));
      direct.onDirect((msg) => emitAll(this.directListeners, msg, logger));
      manager.onEvent((ev) =>
        emitAll(this.peerListeners, ev.type === 'disconnected' ? { ...ev, peer: { ...ev.peer, gossip: gossip.closedCounters(ev.peer.nodeId) } } : ev, logger),
      );

      // One hello object for every session: with port 0 the real port is only
      // known once listening, and inbound handshakes read it from here.
      const hello: LocalHello = {
        networkId,
        protocolVersion: PROTOCOL_VERSION,
        listenPort: c.listenPort,
        protocols: manager.localProtocols(),
        userAgent: `pheromones/${version}`,
      };
      const transport: SecureTransportOptions = { identity, hello, handshakeTimeoutMs: t.handshakeTimeoutMs, maxFrameBytes: t.maxFrameBytes };
      listener = await net.listen(c.listenHost, c.listenPort, transport, {
        onConnection: (conn) => {
          this.handshakes.add('inbound', 'ok');
          manager.accept(conn);
        },
        onHandshakeError: (err, remote) => {
          this.handshakes.add('inbound', handshakeFailure(err));
          logger.debug({ remote, err: err.message }, 'inbound handshake failed');
        },
      });
      const listenPort = listener.port;
      hello.listenPort = listenPort;
      const listenAddress = formatAddress(c.listenHost, listenPort);
      manager.setListenAddress(c.listenHost, listenPort);
      manager.start();
      discovery.start();
      this.run = { db, log, identity, peers: manager, gossip, direct, chain: chainNode, nat, listener, listenAddress, listenPort, networkId, version, startedAtMs: Date.now() };
      logger.info({ nodeId: identity.nodeIdHex, network: c.network, address: listenAddress }, `listening on ${listenAddress}`);
      // In the background: a slow or absent gateway must not hold up start.
      nat?.start(listenPort);
      chainNode.start();
      for (const address of c.peers) manager.addPersistent(address);
      this.isReady = true;
    } catch (err) {
      await peers?.stop().catch(() => undefined);
      await listener?.close().catch(() => undefined);
      await chain?.stop().catch(() => undefined);
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** Disconnect every peer (REQUESTED), close the listener, flush and close the store. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const r = this.run;
    this.isReady = false;
    if (r === undefined) return;
    // The server's close completes only once its accepted sockets are gone,
    // so stop accepting first and wait for it after the peers are closed.
    const listenerClosed = r.listener.close().catch((err: unknown) => this.config.logger.warn({ err }, 'closing the listener failed'));
    // The gateway's delete goes out beside the peers' disconnects (bounded inside).
    const natStopped = r.nat?.stop();
    await this.disc?.stop().catch((err: unknown) => this.config.logger.warn({ err }, 'stopping discovery failed'));
    await r.peers.stop();
    await r.chain.stop().catch((err: unknown) => this.config.logger.warn({ err }, 'stopping the chain failed'));
    r.gossip.close();
    // A peer that never answers our Disconnect keeps its socket until the
    // transport's 2 s destroy timer; shutdown must not wait on it longer.
    await waitAtMost(listenerClosed, LISTENER_CLOSE_WAIT_MS);
    await natStopped;
    await r.log.flush();
    await r.db.close();
    this.config.logger.info({ nodeId: r.identity.nodeIdHex }, 'node stopped');
  }

  private running(): Running {
    if (this.run === undefined || this.stopping !== undefined) {
      throw new PheromonesError('unavailable', this.stopping ? 'the node is stopped' : 'the node is not started yet');
    }
    return this.run;
  }

  async info(): Promise<NodeInfo> {
    const r = this.running();
    const now = Date.now();
    return {
      nodeId: r.identity.nodeIdHex,
      version: r.version,
      network: this.config.network,
      networkId: r.networkId,
      listenAddress: r.listenAddress,
      observedAddresses: this.disc?.observedAddresses() ?? [],
      advertisedAddresses: this.disc?.advertisedAddresses() ?? [],
      nat: r.nat?.status(),
      grpcAddress: this.config.grpcAddress,
      startedAtMs: r.startedAtMs,
      uptimeMs: now - r.startedAtMs,
      peersInbound: r.peers.count('inbound'),
      peersOutbound: r.peers.count('outbound'),
      messageLogSize: r.log.size,
      gossip: { mode: r.gossip.mode, totals: { ...r.gossip.stats }, topics: r.gossip.topicCounters(), tree: r.gossip.treeState() },
    };
  }

  /** Bans, DHT lookups and the peer store; undefined before start. */
  get discovery(): DiscoveryApi | undefined {
    const d = this.disc;
    if (d === undefined) return undefined;
    return {
      ban: async (target, durationMs, reason) => d.ban(target, durationMs, reason),
      unban: async (target) => d.unban(target),
      bans: () => d.bans(),
      findNode: (nodeId, timeoutMs) => d.findNode(nodeId, timeoutMs),
      knownPeers: () => d.knownPeers(),
      lookupsInFlight: () => d.lookupsInFlight,
    };
  }

  async addPeer(address: string, options: { persistent: boolean; timeoutMs: number }): Promise<PeerInfo> {
    const peer = await this.running().peers.connect(address, options);
    return peer.info();
  }

  async removePeer(idOrAddress: string): Promise<PeerInfo> {
    return this.running().peers.remove(idOrAddress);
  }

  listPeers(): PeerInfo[] {
    const r = this.run;
    if (r === undefined) return [];
    return r.peers.list().map((p) => {
      const gossip = r.gossip.peerCounters(p.nodeId);
      return gossip === undefined ? p : { ...p, gossip };
    });
  }

  async broadcast(topic: string, payload: Uint8Array): Promise<StoredMessage> {
    const r = this.running();
    const msg = await r.gossip.broadcast(topic, payload);
    if (this.config.chain?.recordBroadcasts === false) return msg;
    // Every broadcast also becomes a transaction signed by this node, so it ends up in the chain.
    r.chain.submitOwn(topic, payload).then(
      ({ tx, reason }) => {
        if (reason !== undefined) this.config.logger.warn({ tx: tx.idHex, reason }, `message not entered into the chain: ${reason}`);
      },
      (err: unknown) => this.config.logger.warn({ err }, 'message not entered into the chain'),
    );
    return msg;
  }

  /** The chain, pool, sync and miner of the running node (ChainService). */
  chainNode(): ChainNode {
    return this.running().chain;
  }

  async sendToPeer(nodeId: string, topic: string, payload: Uint8Array): Promise<void> {
    const r = this.running();
    const peer = r.peers.get(nodeId.toLowerCase());
    if (peer === undefined) throw new PheromonesError('not-found', `not connected to ${nodeId}`);
    r.direct.send(peer, topic, payload);
  }

  async listMessages(afterSeq: bigint, limit: number, topic?: string): Promise<StoredMessage[]> {
    return this.running().log.list(afterSeq, limit, topic);
  }

  async getMessage(id: Uint8Array): Promise<StoredMessage | undefined> {
    return this.running().log.get(id);
  }

  onMessage(listener: (msg: StoredMessage) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  onDirect(listener: (msg: DirectMessage) => void): () => void {
    this.directListeners.add(listener);
    return () => this.directListeners.delete(listener);
  }

  onPeerEvent(listener: (ev: NodePeerEvent) => void): () => void {
    this.peerListeners.add(listener);
    return () => this.peerListeners.delete(listener);
  }
}

const LISTENER_CLOSE_WAIT_MS = 2_500;

function emitAll<T>(listeners: Set<(v: T) => void>, value: T, logger: NodeConfig['logger']): void {
  for (const l of listeners) {
    try {
      l(value);
    } catch (err) {
      logger.error({ err }, 'listener threw');
    }
  }
}
