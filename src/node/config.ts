import type { Logger } from 'pino';
import type { DiscoveryTuning } from '../discovery/discovery.js';
import { GOSSIP_DEFAULTS } from '../gossip/gossip.js';
import type { NatConfig } from '../nat/port-mapper.js';
import type { NodeIdentity } from '../crypto/identity.js';
import type { Database } from '../store/database.js';
import type { SecureListener, SecureListenerHandlers } from '../transport/listen.js';
import type { SecureConnection, SecureTransportOptions } from '../transport/types.js';

/**
 * How the node reaches peers: TCP with the sealed handshake (src/transport)
 * unless another implementation of the same interfaces is given, such as the
 * in-memory network of the simulation bench (bench/sim/).
 */
export interface NodeTransport {
  dial(host: string, port: number, options: SecureTransportOptions): Promise<SecureConnection>;
  listen(host: string, port: number, options: SecureTransportOptions, handlers: SecureListenerHandlers): Promise<SecureListener>;
}

/** Everything a Node needs; the daemon fills it from flags and environment. */
export interface NodeConfig {
  /** Directory holding the identity key, LevelDB and the API cookie. Created if missing. */
  dataDir: string;
  /** Network name, e.g. "devnet"; its magic (network id) keeps networks apart. */
  network: string;
  /** Host to bind the P2P listener to ("0.0.0.0", "127.0.0.1", "::"). */
  listenHost: string;
  /** Port to bind; 0 picks a free one (see NodeInfo.listenAddress for the result). */
  listenPort: number;
  /** Persistent peers (host:port), dialled at start and redialled with backoff. */
  peers: string[];
  maxInbound: number;
  maxOutbound: number;
  /** Where the gRPC API is served; reported by info(), served by src/api. */
  grpcAddress: string;
  logger: Logger;
  /** Tunables; tests shorten them. Defaults in DEFAULT_TUNING. */
  tuning?: Partial<NodeTuning>;
  /** Seed addresses (host:port, names resolved) for bootstrapping discovery. */
  seeds?: string[];
  /** Discovery tunables (ban length, engine period...); defaults in DEFAULT_DISCOVERY_TUNING. */
  discovery?: Partial<DiscoveryTuning>;
  /** Mining and signature checking; the chain itself always runs (docs/chain.md). */
  chain?: NodeChainConfig;
  /** NAT port mapping of the listen port (src/nat); none when absent. */
  nat?: NatConfig;
  /** The connection layer; TCP (dialSecure/listenSecure) by default. */
  transport?: NodeTransport;
  /** Opens the store; LevelDB under dataDir by default. Many nodes in one process pass an in-memory one. */
  openDatabase?: () => Promise<Database>;
  /** The node's key; by default loaded from (or created in) dataDir. */
  identity?: NodeIdentity;
}

export interface NodeChainConfig {
  mine?: boolean;
  /** 33-byte public key credited in mined blocks; the node's identity key by default. */
  minerKey?: Uint8Array;
  /** Mine blocks without transactions too. */
  mineEmpty?: boolean;
  /** Signature worker threads; 0 (default) verifies on the event loop. */
  verifierThreads?: number;
  /**
   * False: broadcasts are not also submitted as chain transactions (default
   * true). The broadcast benchmark measures gossip alone with this off.
   */
  recordBroadcasts?: boolean;
}

export interface NodeTuning {
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  pingIntervalMs: number;
  /** A peer silent for this long is dropped. */
  pingTimeoutMs: number;
  /** Bytes a peer's send queue may hold before the peer is dropped as a slow reader. */
  maxQueuedBytes: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  gossipTtl: number;
  seenCacheEntries: number;
  seenCacheTtlMs: number;
  /** 'tree' (Plumtree: push along a spanning tree, announce ids on other links) or 'flood'. */
  gossipMode: 'flood' | 'tree';
  /** Announcements of message ids wait at most this long to be batched. */
  gossipIHaveFlushMs: number;
  /**
   * Least time between two announcement frames on one link (0: none); longer packs more ids per
   * frame. Under gossip/5 the tree carries every message and announcements only repair, so
   * they can wait: at 10 msgs/s on 100 simulated nodes 0, 0.5 and 1 s gave amplifications of
   * 1.52-1.57, 1.29 and 1.25 (docs/scale.md).
   */
  gossipIHaveIntervalMs: number;
  /** An announced message that has not arrived after this long is grafted from its announcer. */
  gossipGraftTimeoutMs: number;
  /** LevelDB memory in MiB: a quarter for the write buffer (memtable), the rest for the block cache. */
  dbCacheMiB: number;
}

export const DEFAULT_TUNING: NodeTuning = {
  handshakeTimeoutMs: 10_000,
  maxFrameBytes: 4 * 1024 * 1024,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 30_000,
  maxQueuedBytes: 16 * 1024 * 1024,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
  gossipTtl: 64,
  seenCacheEntries: 100_000,
  seenCacheTtlMs: 10 * 60_000,
  gossipMode: 'tree',
  gossipIHaveFlushMs: GOSSIP_DEFAULTS.ihaveFlushMs,
  gossipIHaveIntervalMs: GOSSIP_DEFAULTS.ihaveIntervalMs,
  gossipGraftTimeoutMs: GOSSIP_DEFAULTS.graftTimeoutMs,
  // LevelDB's own defaults (4 MiB write buffer, 8 MiB cache) are sized for
  // one big database; a node's log and chain stay small and are read mostly
  // in order, and many nodes may share one machine or process.
  dbCacheMiB: 4,
};
