import { DisconnectReason, type Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import { encodeEnvelope } from '../wire/envelope.js';
import type { PeerSessionInfo, ProtocolTraffic } from './types.js';
import type { Direction, SecureConnection } from '../transport/types.js';
import { formatAddress } from './address.js';
import type { EnvelopeCase } from './protocol.js';

/** The send queue (and traffic counter) an Envelope case belongs to: its protocol's name, or the control queue. */
export type QueueOf = (c: EnvelopeCase | undefined) => string;

/**
 * One live, registered session with a remote node: the connection plus what
 * the peer layer tracks about it. Protocols get this object and send through
 * it; each frame goes on its protocol's send queue (so protocols share the
 * session fairly), and every send is checked against the send-queue bound.
 */
export class Peer {
  readonly id: string;
  readonly direction: Direction;
  readonly address: string;
  readonly listenAddress: string;
  readonly connectedSinceMs: number;
  persistent: boolean;
  rttMs = -1;
  messagesIn = 0;
  messagesOut = 0;
  lastHeardMs: number;
  /** Outstanding ping: its value and when it went out. */
  pingValue: bigint | undefined;
  pingSentMs = 0;
  /** Protocols both sides speak on this session (name → remote versions). */
  readonly remoteProtocols: ReadonlyMap<string, readonly number[]>;
  /** Protocols opened on this session: spoken by both sides. */
  readonly open = new Set<string>();
  /** Set once the peer layer has let go of this session. */
  closed = false;
  /**
   * A short-lived discovery query session (QUERY_PROTOCOL only, no listen
   * port): served, but never registered as a peer, counted in slots or
   * announced, so it cannot displace the real session with the same node.
   */
  transient = false;
  /** Misbehaviour points (PeerManager.misbehave); at the ban threshold the peer is banned. */
  score = 0;
  /** Set once the peer crossed the ban threshold. */
  banned = false;
  /** Frame token bucket (flood limit): tokens left and when last refilled. */
  frameTokens = Number.POSITIVE_INFINITY;
  frameRefillMs = 0;
  /** Frames and body bytes received, by protocol (the same keys as the send queues). */
  private readonly received = new Map<string, { frames: number; bytes: number }>();

  constructor(
    readonly conn: SecureConnection,
    private readonly maxQueuedBytes: number,
    persistent: boolean,
    now: number,
    private readonly queueOf: QueueOf,
  ) {
    this.id = conn.remoteId;
    this.direction = conn.direction;
    this.address = formatAddress(conn.remoteAddress, conn.remotePort);
    const listenPort = conn.remoteHello.listenPort;
    this.listenAddress = listenPort > 0 ? formatAddress(conn.remoteAddress, listenPort) : '';
    this.connectedSinceMs = now;
    this.lastHeardMs = now;
    this.persistent = persistent;
    const protocols = new Map<string, readonly number[]>();
    for (const p of conn.remoteHello.protocols) protocols.set(p.name, [...p.versions]);
    this.remoteProtocols = protocols;
    conn.on('message', (env: Envelope, bodyBytes: number) => {
      const key = queueOf(env.kind.case);
      const c = this.received.get(key);
      if (c === undefined) this.received.set(key, { frames: 1, bytes: bodyBytes });
      else {
        c.frames++;
        c.bytes += bodyBytes;
      }
    });
  }

  /** Encode and queue one Envelope on its protocol's queue; false when the session is gone. */
  send(env: Envelope): boolean {
    return this.sendEncoded(encodeEnvelope(env), this.queueOf(env.kind.case));
  }

  /**
   * Queue an Envelope encoded once for many peers on `protocol`'s queue
   * (the sender's protocol name); false when the session is gone.
   */
  sendEncoded(body: Uint8Array, protocol: string): boolean {
    if (this.closed || this.conn.closed) return false;
    this.conn.sendEncoded(body, protocol);
    this.messagesOut++;
    this.checkQueue();
    return !this.conn.closed;
  }

  /**
   * A peer that does not read would make its queue grow without bound; past
   * the limit it is dropped instead.
   */
  checkQueue(): void {
    if (!this.conn.closed && this.conn.queuedBytes > this.maxQueuedBytes) {
      this.conn.close(
        DisconnectReason.SLOW_READER,
        `send queue over ${this.maxQueuedBytes} bytes (${this.conn.queuedBytes} queued)`,
      );
    }
  }

  /** Frames and bytes each protocol sent and received on this session, by protocol name. */
  traffic(): ProtocolTraffic[] {
    const byName = new Map<string, ProtocolTraffic>();
    const entry = (protocol: string): ProtocolTraffic => {
      let t = byName.get(protocol);
      if (t === undefined) {
        t = { protocol, framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 };
        byName.set(protocol, t);
      }
      return t;
    };
    for (const q of this.conn.sentByQueue()) {
      if (q.frames === 0) continue;
      const t = entry(q.queue);
      t.framesOut = q.frames;
      t.bytesOut = q.bytes;
    }
    for (const [name, c] of this.received) {
      const t = entry(name);
      t.framesIn = c.frames;
      t.bytesIn = c.bytes;
    }
    return [...byName.values()].sort((a, b) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
  }

  info(): PeerSessionInfo {
    const protocols: string[] = [];
    for (const [name, versions] of this.remoteProtocols) for (const v of versions) protocols.push(`${name}/${v}`);
    return {
      nodeId: this.id,
      address: this.address,
      listenAddress: this.listenAddress,
      direction: this.direction,
      connectedSinceMs: this.connectedSinceMs,
      rttMs: this.rttMs,
      bytesIn: this.conn.bytesRead,
      bytesOut: this.conn.bytesWritten,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      protocols,
      userAgent: this.conn.remoteHello.userAgent,
      persistent: this.persistent,
      traffic: this.traffic(),
    };
  }
}

export { envelope } from '../wire/envelope.js';
