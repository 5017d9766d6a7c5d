import type { FindNodeResult } from '../discovery/discovery.js';
import type { Ban } from '../store/ban-list.js';
import type { KnownPeer } from '../store/peer-store.js';
import type { PeerEvent, PeerSessionInfo } from '../peer/types.js';
import type { StoredMessage } from '../store/message-log.js';
import type { GossipStats, PeerGossipCounters, TopicGossipCounters } from '../gossip/stats.js';
import type { NatStatus } from '../nat/port-mapper.js';

export type { Ban, FindNodeResult, KnownPeer, NatStatus };
export type { DisconnectCause, PeerEvent, PeerSessionInfo } from '../peer/types.js';
export type { StoredMessage } from '../store/message-log.js';

/**
 * The public face of a running node: what the daemon's stdin mode, the gRPC
 * API and the tests use. Implemented by `Node` in ./node.ts.
 */

/** A session's state as the peer layer reports it, plus what gossip did on the link. */
export interface PeerInfo extends PeerSessionInfo {
  /** What gossip did on this link; undefined when the peer does not speak gossip. */
  gossip?: PeerGossipCounters;
}

/** Where a node is in gossip/5's rooted tree. */
export interface GossipTreeInfo {
  root: string;
  distanceMs: number;
  parent: string | undefined;
  rootChanges: number;
  parentChanges: number;
}

/** Peer events as the node reports them: a disconnect also tells what gossip did on the session. */
export type NodePeerEvent = Exclude<PeerEvent, { type: 'disconnected' }> | (Extract<PeerEvent, { type: 'disconnected' }> & { peer: PeerInfo });

export interface NodeInfo {
  nodeId: string;
  version: string;
  network: string;
  networkId: number;
  /** The address the TCP listener is bound to (actual port, after port 0 resolution). */
  listenAddress: string;
  /** Addresses peers observed for this node (from their view of our connections). */
  observedAddresses: string[];
  /** Addresses advertised to peers as this node's own (NAT mapping, then what outbound peers observed). */
  advertisedAddresses: string[];
  /** The NAT port mapping; undefined with --nat none. */
  nat?: NatStatus;
  grpcAddress: string;
  startedAtMs: number;
  uptimeMs: number;
  peersInbound: number;
  peersOutbound: number;
  /** Number of messages in the persistent message log. */
  messageLogSize: number;
  /** Gossip totals and per-topic counters since start. */
  gossip?: { mode: string; totals: GossipStats; topics: TopicGossipCounters[]; tree?: GossipTreeInfo };
}

/** Discovery: bans, DHT lookups and the peer store (src/discovery). */
export interface DiscoveryApi {
  /** Ban a node id, host:port or host for durationMs (0: the default) and drop matching peers. */
  ban(target: string, durationMs: number, reason: string): Promise<Ban>;
  /** Rejects 'not-found' when there is no such ban. */
  unban(target: string): Promise<Ban>;
  bans(): Ban[];
  /** Resolve a node id to its address through the DHT; rejects 'not-found' when nobody answers for it in time. */
  findNode(nodeId: string, timeoutMs: number): Promise<FindNodeResult>;
  knownPeers(): KnownPeer[];
  /** DHT lookups running now (the self-lookup at start, bucket refreshes, findNode). */
  lookupsInFlight(): number;
}

/** A message sent straight to this node by one peer (SendToPeer), not relayed and not logged. */
export interface DirectMessage {
  from: string;
  topic: string;
  payload: Uint8Array;
  receivedAtMs: number;
}

export interface NodeApi {
  readonly nodeId: string;
  info(): Promise<NodeInfo>;
  /**
   * Dial host:port, wait for the handshake (up to timeoutMs) and return the
   * peer. Rejects with a PheromonesError whose kind says why: 'refused',
   * 'timeout', 'wrong-network', 'handshake-failed', 'invalid-argument'.
   */
  addPeer(address: string, options: { persistent: boolean; timeoutMs: number }): Promise<PeerInfo>;
  /** Disconnect a peer by hex node id or by address, and forget it if persistent. Rejects 'not-found'. */
  removePeer(idOrAddress: string): Promise<PeerInfo>;
  listPeers(): PeerInfo[];
  /** Broadcast to the network; also delivered (and logged) locally. Resolves with the message once logged. */
  broadcast(topic: string, payload: Uint8Array): Promise<StoredMessage>;
  /** Send to one connected peer only. Rejects 'not-found' when not connected. */
  sendToPeer(nodeId: string, topic: string, payload: Uint8Array): Promise<void>;
  /** Messages with seq > afterSeq, oldest first, at most limit. */
  listMessages(afterSeq: bigint, limit: number, topic?: string): Promise<StoredMessage[]>;
  /** Look up one logged message by id. */
  getMessage(id: Uint8Array): Promise<StoredMessage | undefined>;
  /** Every message as it is logged (seq order). Returns an unsubscribe function. */
  onMessage(listener: (msg: StoredMessage) => void): () => void;
  onDirect(listener: (msg: DirectMessage) => void): () => void;
  onPeerEvent(listener: (ev: NodePeerEvent) => void): () => void;
  /** True once the data is loaded and the node is serving. */
  readonly ready: boolean;
  /** Present on nodes that run discovery. */
  readonly discovery?: DiscoveryApi;
}
