import type { EventEmitter } from 'node:events';
import type { DisconnectReason, Envelope, NodeHello } from '../gen/pheromones/wire/v1/wire_pb.js';
import type { NodeIdentity } from '../crypto/identity.js';

export type Direction = 'inbound' | 'outbound';

/**
 * Each session has one send queue per protocol, named by the protocol; the
 * control queue (ping, pong) always goes first, the others share the session
 * by deficit round-robin (send-queues.ts).
 */
export const CONTROL_QUEUE = 'control';
/** The queue of frames sent without naming one. */
export const DEFAULT_QUEUE = 'default';

/** What one send queue has handed to the socket since the session opened. */
export interface QueueSent {
  queue: string;
  frames: number;
  /** Frame body bytes (encoded Envelopes), without record or inner-frame overhead. */
  bytes: number;
}

/** What this node states about itself in every handshake (docs/protocol.md). */
export interface LocalHello {
  networkId: number;
  protocolVersion: number;
  listenPort: number;
  protocols: { name: string; versions: number[] }[];
  userAgent: string;
}

export interface SecureTransportOptions {
  identity: NodeIdentity;
  hello: LocalHello;
  /** A peer that has not completed the handshake by then is dropped (default 10 s). */
  handshakeTimeoutMs: number;
  /** Largest frame body accepted or sent (default 4 MiB). */
  maxFrameBytes: number;
}

export interface CloseInfo {
  reason: DisconnectReason;
  detail: string;
  /** True when the remote side sent the Disconnect or dropped the socket. */
  remote: boolean;
  /**
   * True only when the authenticated peer provably sent what ended the
   * connection: a record that opened under the session key but held an
   * undecodable or oversized frame. A record that fails authentication, a
   * reset or a cut stream could come from anyone on the path and is not one.
   */
  offence?: boolean;
  error?: Error;
}

/**
 * An authenticated, encrypted, framed connection to one peer.
 * Events:
 * - 'message' (env: Envelope, bodyBytes: number): one decrypted, decoded frame.
 *   Disconnect envelopes are consumed by the connection itself (they end it
 *   with a remote CloseInfo) and never emitted.
 * - 'drain': queued bytes fell below the low-water mark.
 * - 'close' (info: CloseInfo): emitted exactly once. A record that fails to
 *   authenticate (or whose length is out of bounds) ends the connection with
 *   CORRUPT_RECORD; a record that opens but holds an undecodable or oversized
 *   frame ends it with PROTOCOL_VIOLATION and `offence: true`, the only close
 *   the peer layer scores.
 */
export interface SecureConnection extends EventEmitter {
  readonly direction: Direction;
  /** Hex node id of the authenticated remote peer. */
  readonly remoteId: string;
  /** What the remote stated in its handshake (protocols, listen port, user agent...). */
  readonly remoteHello: NodeHello;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Bytes written to / read from the TCP socket, handshake included. */
  readonly bytesWritten: number;
  readonly bytesRead: number;
  /** Bytes accepted by send() and not yet handed to the kernel. */
  readonly queuedBytes: number;
  readonly closed: boolean;
  /** Encode and queue one Envelope on `queue` (the sending protocol's name; DEFAULT_QUEUE if omitted). */
  send(env: Envelope, queue?: string): void;
  /** Queue an already encoded Envelope (encode once, send to many). */
  sendEncoded(body: Uint8Array, queue?: string): void;
  /** Frames and body bytes handed to the socket so far, per send queue. */
  sentByQueue(): QueueSent[];
  /** Send a Disconnect with this reason (best effort), then close the socket. */
  close(reason: DisconnectReason, detail?: string): void;
}
