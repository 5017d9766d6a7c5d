/**
 * An in-memory network for the simulation: it implements the node's
 * connection interfaces (SecureConnection, SecureListener; NodeTransport in
 * src/node/config.ts) with per-link latency on the virtual clock, so the
 * peer layer, gossip, discovery and the chain run unchanged on top of it.
 *
 * What differs from TCP + the sealed handshake (docs/scale.md says so too):
 * - No cryptography. The handshake is replaced by handing each side the
 *   other's hello and node id after 1 (dialler) and 1.5 (listener) round
 *   trips; frames are not sealed. Bytes are counted as the real transport
 *   would write them: a record header and tag per flush plus a 4-byte inner
 *   header per frame. Handshake bytes are not counted.
 * - Bandwidth is unlimited: a frame takes exactly the link's latency.
 * - Frames sent in one turn of the event loop travel as one record, as the
 *   real transport's setImmediate flush coalesces them.
 */
import { EventEmitter } from 'node:events';
import { create } from '@bufbuild/protobuf';
import { PheromonesError } from '../../src/errors.js';
import { DisconnectReason, NodeHelloSchema, type Envelope, type NodeHello } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import type { NodeTransport } from '../../src/node/config.js';
import { HandshakeError, disconnectEnvelope } from '../../src/transport/handshake.js';
import type { SecureListener, SecureListenerHandlers } from '../../src/transport/listen.js';
import { SendQueues } from '../../src/transport/send-queues.js';
import { DEFAULT_QUEUE, type CloseInfo, type Direction, type LocalHello, type QueueSent, type SecureConnection, type SecureTransportOptions } from '../../src/transport/types.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/wire/envelope.js';
import { INNER_HEADER_BYTES, RECORD_HEADER_BYTES, RECORD_PLAINTEXT_TARGET, RECORD_TAG_BYTES } from '../../src/wire/limits.js';
import type { VirtualClock } from './clock.js';
import { LatencyModel, hashUnit } from './latency.js';

interface ListenerEntry {
  host: string;
  port: number;
  options: SecureTransportOptions;
  handlers: SecureListenerHandlers;
}

interface HostState {
  alive: boolean;
  conns: Set<SimConnection>;
}

export interface SimNetworkOptions {
  seed: number;
  /** Fraction of host pairs that can never reach each other (whole links lost); 0 by default. */
  linkLoss?: number;
}

/** Byte and frame counters of the whole network. */
export interface TrafficCounters {
  bytes: number;
  records: number;
  frames: number;
  /** Inner frame bytes (header + body) by envelope kind, counted where they arrive. */
  bytesByKind: Map<string, number>;
}

export class SimNetwork {
  readonly latency: LatencyModel;
  readonly traffic: TrafficCounters = { bytes: 0, records: 0, frames: 0, bytesByKind: new Map() };
  private readonly listeners = new Map<string, ListenerEntry>();
  private readonly hosts = new Map<string, HostState>();
  private nextPort = 40_000;
  private partition: ((a: string, b: string) => boolean) | undefined;
  private readonly linkLoss: number;

  constructor(
    readonly clock: VirtualClock,
    private readonly opts: SimNetworkOptions,
  ) {
    this.latency = new LatencyModel(opts.seed);
    this.linkLoss = opts.linkLoss ?? 0;
  }

  /** The transport one node uses: dials leave from `host`. */
  transportFor(host: string): NodeTransport {
    this.latency.place(host);
    this.hosts.set(host, { alive: true, conns: new Set() });
    return {
      dial: (h, p, options) => this.dial(host, h, p, options),
      listen: (h, p, options, handlers) => this.listen(h, p, options, handlers),
    };
  }

  /** True when frames between the two hosts are lost (partition, lost link, dead host). */
  blocked(a: string, b: string): boolean {
    if (this.hosts.get(a)?.alive !== true || this.hosts.get(b)?.alive !== true) return true;
    if (this.partition?.(a, b) === true) return true;
    if (this.linkLoss > 0) {
      const [x, y] = a < b ? [a, b] : [b, a];
      if (hashUnit(`loss|${this.opts.seed}|${x}|${y}`) < this.linkLoss) return true;
    }
    return false;
  }

  /** Split the network: frames between hosts for which `cut` is true are silently dropped; undefined heals. */
  setPartition(cut: ((a: string, b: string) => boolean) | undefined): void {
    this.partition = cut;
  }

  /**
   * The host's process dies: nothing more leaves or reaches it, and its
   * peers see their connections end (the kernel's FIN) one latency later,
   * without a Disconnect. Its listener is gone, so dials to it are refused.
   */
  kill(host: string): void {
    const state = this.hosts.get(host);
    if (state === undefined || !state.alive) return;
    state.alive = false;
    for (const [key, l] of this.listeners) if (l.host === host) this.listeners.delete(key);
    for (const conn of state.conns) {
      const remote = conn.remote;
      this.clock.at(conn.latencyMs, () => remote.finish({ reason: DisconnectReason.UNSPECIFIED, detail: 'connection closed', remote: true }));
    }
    state.conns.clear();
  }

  isAlive(host: string): boolean {
    return this.hosts.get(host)?.alive === true;
  }

  private listen(host: string, port: number, options: SecureTransportOptions, handlers: SecureListenerHandlers): Promise<SecureListener> {
    const key = `${host}:${port}`;
    if (this.listeners.has(key)) return Promise.reject(new PheromonesError('already-exists', `cannot listen on ${key}: in use`));
    const entry: ListenerEntry = { host, port, options, handlers };
    this.listeners.set(key, entry);
    return Promise.resolve({
      host,
      port,
      close: () => {
        if (this.listeners.get(key) === entry) this.listeners.delete(key);
        return Promise.resolve();
      },
    });
  }

  private dial(from: string, host: string, port: number, options: SecureTransportOptions): Promise<SecureConnection> {
    const address = `${host}:${port}`;
    const lat = this.latency.oneWayMs(from, host);
    return new Promise((resolve, reject) => {
      const timeout = (): void =>
        this.clock.at(options.handshakeTimeoutMs, () =>
          reject(new PheromonesError('timeout', `connection to ${address} timed out after ${options.handshakeTimeoutMs} ms`)),
        );
      if (!this.isAlive(from)) {
        reject(new PheromonesError('unavailable', `cannot connect to ${address}: this host is down`));
        return;
      }
      if (this.blocked(from, host) && this.isAlive(host)) {
        timeout();
        return;
      }
      if (2 * lat > options.handshakeTimeoutMs) {
        timeout();
        return;
      }
      // The handshake's first message reaches the listener...
      this.clock.at(lat, () => {
        const entry = this.listeners.get(address);
        if (entry === undefined || !this.isAlive(host)) {
          this.clock.at(lat, () => reject(new PheromonesError('refused', `connection to ${address} refused`)));
          return;
        }
        const localHello = options.hello;
        const remoteHello = entry.options.hello;
        // ...and its answer comes back: the dialler is done after one round trip.
        this.clock.at(lat, () => {
          if (this.blocked(from, host)) {
            reject(new PheromonesError('timeout', `connection to ${address} timed out after ${options.handshakeTimeoutMs} ms`));
            return;
          }
          if (localHello.networkId !== remoteHello.networkId) {
            reject(new HandshakeError(DisconnectReason.WRONG_NETWORK, `${address} is on another network`));
            return;
          }
          if (entry.options.identity.nodeIdHex === options.identity.nodeIdHex) {
            reject(new HandshakeError(DisconnectReason.SELF, `${address}: connected to itself`));
            return;
          }
          const ephemeral = this.nextPort++;
          if (this.nextPort > 65_000) this.nextPort = 40_000;
          const out = new SimConnection(this, 'outbound', from, host, port, entry.options.identity.nodeIdHex, helloOf(remoteHello), lat, options.maxFrameBytes);
          const inb = new SimConnection(this, 'inbound', host, from, ephemeral, options.identity.nodeIdHex, helloOf(localHello), lat, entry.options.maxFrameBytes);
          out.remote = inb;
          inb.remote = out;
          this.hosts.get(from)?.conns.add(out);
          this.hosts.get(host)?.conns.add(inb);
          resolve(out);
          // The dialler's last handshake message reaches the listener half a round trip later.
          this.clock.at(lat, () => {
            if (inb.closed) return;
            if (this.listeners.get(address) !== entry) {
              inb.finish({ reason: DisconnectReason.UNSPECIFIED, detail: 'listener closed', remote: false });
              this.clock.at(lat, () => out.finish({ reason: DisconnectReason.UNSPECIFIED, detail: 'connection closed', remote: true }));
              return;
            }
            entry.handlers.onConnection(inb);
          });
        });
      });
    });
  }

  /** A record leaves `conn`: counted, then delivered one latency later unless the link is blocked. */
  transmit(conn: SimConnection, bodies: Uint8Array[], bytes: number): void {
    this.traffic.bytes += bytes;
    this.traffic.records++;
    this.traffic.frames += bodies.length;
    if (this.blocked(conn.localHost, conn.remoteAddress)) return;
    const remote = conn.remote;
    this.clock.at(conn.latencyMs, () => remote.receive(bodies, bytes));
  }

  countKind(kind: string, bytes: number): void {
    const m = this.traffic.bytesByKind;
    m.set(kind, (m.get(kind) ?? 0) + bytes);
  }

  forget(conn: SimConnection): void {
    this.hosts.get(conn.localHost)?.conns.delete(conn);
  }
}

function helloOf(h: LocalHello): NodeHello {
  return create(NodeHelloSchema, {
    protocolVersion: h.protocolVersion,
    networkId: h.networkId,
    listenPort: h.listenPort,
    protocols: h.protocols.map((p) => ({ name: p.name, versions: [...p.versions] })),
    userAgent: h.userAgent,
  });
}

/** One end of an in-memory session; events as SecureConnection documents. */
export class SimConnection extends EventEmitter implements SecureConnection {
  /** The other end (set right after both are made). */
  remote!: SimConnection;
  bytesWritten = 0;
  bytesRead = 0;
  private isClosed = false;
  private closeEmitted = false;
  /** The real transport's per-protocol queues, so frames leave in the order TCP sessions send them. */
  private readonly queues = new SendQueues();
  private pendingBytes = 0;
  private flushScheduled = false;

  constructor(
    private readonly net: SimNetwork,
    readonly direction: Direction,
    readonly localHost: string,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly remoteId: string,
    readonly remoteHello: NodeHello,
    readonly latencyMs: number,
    private readonly maxFrameBytes: number,
  ) {
    super();
  }

  get queuedBytes(): number {
    return this.pendingBytes;
  }
  get closed(): boolean {
    return this.isClosed;
  }

  send(env: Envelope, queue: string = DEFAULT_QUEUE): void {
    this.sendEncoded(encodeEnvelope(env), queue);
  }

  sentByQueue(): QueueSent[] {
    return this.queues.sent();
  }

  sendEncoded(body: Uint8Array, queue: string = DEFAULT_QUEUE): void {
    if (this.isClosed) return;
    if (body.length > this.maxFrameBytes) {
      throw new PheromonesError('invalid-argument', `message of ${body.length} bytes exceeds the frame limit of ${this.maxFrameBytes}`);
    }
    this.queues.push(queue, body);
    this.pendingBytes += INNER_HEADER_BYTES + body.length;
    if (this.pendingBytes >= RECORD_PLAINTEXT_TARGET) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.isClosed || this.pendingBytes === 0) return;
    const bodies: Uint8Array[] = [];
    for (let b = this.queues.peek(); b !== undefined; b = this.queues.peek()) bodies.push(this.queues.take());
    this.write(bodies, this.pendingBytes);
    this.pendingBytes = 0;
    this.emit('drain');
  }

  private write(bodies: Uint8Array[], plainBytes: number): void {
    const bytes = RECORD_HEADER_BYTES + RECORD_TAG_BYTES + plainBytes;
    this.bytesWritten += bytes;
    this.net.transmit(this, bodies, bytes);
  }

  close(reason: DisconnectReason, detail = ''): void {
    if (this.isClosed) return;
    // As the real transport: what is still queued is dropped, the Disconnect goes out.
    this.queues.clear();
    this.pendingBytes = 0;
    const body = encodeEnvelope(disconnectEnvelope(reason, detail));
    this.write([body], INNER_HEADER_BYTES + body.length);
    this.finish({ reason, detail, remote: false });
  }

  /** End this side (no Disconnect sent). */
  finish(info: CloseInfo): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queues.clear();
    this.pendingBytes = 0;
    this.net.forget(this);
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    process.nextTick(() => this.emit('close', info));
  }

  /** A record arrived from the other end. */
  receive(bodies: Uint8Array[], bytes: number): void {
    if (this.isClosed) return;
    this.bytesRead += bytes;
    for (const body of bodies) {
      let env: Envelope;
      try {
        env = decodeEnvelope(body);
      } catch (err) {
        this.sendViolation(err as Error);
        return;
      }
      const kind = env.kind.case ?? 'empty';
      this.net.countKind(kind, INNER_HEADER_BYTES + body.length);
      if (env.kind.case === 'disconnect') {
        this.finish({ reason: env.kind.value.reason, detail: env.kind.value.detail, remote: true });
        return;
      }
      this.emit('message', env, body.length);
      if (this.isClosed) return;
    }
  }

  private sendViolation(err: Error): void {
    const error = err instanceof PheromonesError ? err : new PheromonesError('protocol-violation', err.message);
    this.close(DisconnectReason.PROTOCOL_VIOLATION, error.message);
  }
}
