import type { Ban } from '../store/ban-list.js';
import type { Direction } from '../transport/types.js';

/** Types the peer layer reports upward (node/types.ts re-exports them as part of the node's API). */

/** One live session, as the peer layer sees it. */
export interface PeerSessionInfo {
  /** Hex node id. */
  nodeId: string;
  /** host:port of the TCP connection's remote end. */
  address: string;
  /** host:port the peer says it listens on (remote host + its listen port), '' if it does not listen. */
  listenAddress: string;
  direction: Direction;
  /** Milliseconds since the Unix epoch when the session was established. */
  connectedSinceMs: number;
  /** Last measured round-trip time in ms, -1 before the first pong. */
  rttMs: number;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  /** Protocols the peer advertised, as "name/version". */
  protocols: string[];
  userAgent: string;
  persistent: boolean;
  /** Per protocol ("control" for ping/pong): frames and body bytes each way. */
  traffic: ProtocolTraffic[];
}

/**
 * What one protocol carried on a session. Bytes are frame bodies (encoded
 * Envelopes) without record overhead; out counts what was handed to the
 * socket, not what still waits in the protocol's send queue.
 */
export interface ProtocolTraffic {
  protocol: string;
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
}

export type DisconnectCause =
  | 'requested'
  | 'duplicate'
  | 'self'
  | 'wrong-network'
  | 'incompatible-version'
  | 'handshake-failed'
  | 'protocol-violation'
  | 'timeout'
  | 'too-many-peers'
  | 'slow-reader'
  | 'banned'
  | 'corrupt-record'
  | 'connection-lost';

export type PeerEvent =
  | { type: 'connected'; peer: PeerSessionInfo }
  | { type: 'disconnected'; peer: PeerSessionInfo; reason: DisconnectCause; detail: string }
  | { type: 'banned'; ban: Ban };
