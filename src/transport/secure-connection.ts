import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PheromonesError } from '../errors.js';
import { DisconnectReason, type Envelope, type NodeHello } from '../gen/pheromones/wire/v1/wire_pb.js';
import { RecordOpener, RecordSealer } from '../crypto/record-cipher.js';
import { decodeEnvelope, encodeEnvelope } from '../wire/envelope.js';
import { decodePlainFrame } from '../wire/plain-frame.js';
import { INNER_HEADER_BYTES, RECORD_PLAINTEXT_TARGET } from '../wire/limits.js';
import { RecordReader, packInnerFrames, recordHeader, recordScratch, unpackInnerFrames } from '../wire/sealed-record.js';
import { disconnectEnvelope } from './handshake.js';
import { SendQueues } from './send-queues.js';
import { DEFAULT_QUEUE, type CloseInfo, type Direction, type QueueSent, type SecureConnection } from './types.js';

/** Records are written to the socket only while its buffer holds less than this. */
const SOCKET_HIGH_WATER = 256 * 1024;
/** 'drain' fires once queuedBytes falls below this after having reached it. */
export const DRAIN_LOW_WATER = 1024 * 1024;
/** How much of the stream's start is kept to recognise a plain-frame Disconnect. */
const PREAMBLE_LIMIT = 4096;
/** After close(), a peer that does not close its end is cut off after this long. */
const CLOSE_GRACE_MS = 2_000;

export interface EstablishedSession {
  socket: Socket;
  direction: Direction;
  remoteId: string;
  remoteHello: NodeHello;
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
  maxFrameBytes: number;
  /** Bytes received after the last handshake frame (already sealed records). */
  leftover: Uint8Array;
}

/**
 * The sealed session (docs/protocol.md, "Sealed records"). Bodies queue per
 * protocol (SendQueues: control first, the rest by deficit round-robin); a
 * flush (next setImmediate, or at once when 64 KiB are pending) coalesces
 * them in that order into records of up to 64 KiB plaintext.
 */
export class SecureConnectionImpl extends EventEmitter implements SecureConnection {
  readonly direction: Direction;
  readonly remoteId: string;
  readonly remoteHello: NodeHello;
  readonly remoteAddress: string;
  readonly remotePort: number;

  private readonly socket: Socket;
  private readonly sealer: RecordSealer;
  private readonly opener: RecordOpener;
  private readonly reader: RecordReader;
  private readonly maxFrameBytes: number;
  private readonly queues = new SendQueues();
  private pendingBytes = 0;
  private flushScheduled = false;
  private needDrain = false;
  private isClosed = false;
  private closeEmitted = false;
  /** Raw bytes received before the first record opened (bounded); see plainDisconnect. */
  private preamble: Buffer[] | undefined = [];
  private preambleBytes = 0;

  constructor(s: EstablishedSession) {
    super();
    this.socket = s.socket;
    this.direction = s.direction;
    this.remoteId = s.remoteId;
    this.remoteHello = s.remoteHello;
    this.remoteAddress = s.socket.remoteAddress ?? '';
    this.remotePort = s.socket.remotePort ?? 0;
    this.maxFrameBytes = s.maxFrameBytes;
    this.sealer = new RecordSealer(s.sendKey);
    this.opener = new RecordOpener(s.receiveKey);
    this.reader = new RecordReader(s.maxFrameBytes);

    const sock = this.socket;
    sock.setNoDelay(true);
    // Hold reading until the owner has had a turn to attach listeners.
    sock.pause();
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('drain', () => this.onSocketDrain());
    sock.on('error', (err) => {
      this.finish({
        reason: DisconnectReason.UNSPECIFIED,
        detail: `socket error: ${err.message}`,
        remote: true,
        error: new PheromonesError('unavailable', `connection to ${this.remoteAddress}:${this.remotePort} failed: ${err.message}`, { cause: err }),
      });
    });
    sock.on('end', () => {
      this.finish({ reason: DisconnectReason.UNSPECIFIED, detail: 'peer closed the connection', remote: true });
    });
    sock.on('close', () => {
      this.finish({ reason: DisconnectReason.UNSPECIFIED, detail: 'connection closed', remote: true });
    });
    setImmediate(() => {
      if (s.leftover.length > 0) this.onData(s.leftover);
      if (!this.isClosed) sock.resume();
    });
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }
  get bytesRead(): number {
    return this.socket.bytesRead;
  }
  get queuedBytes(): number {
    return this.pendingBytes + this.socket.writableLength;
  }
  get closed(): boolean {
    return this.isClosed;
  }

  sentByQueue(): QueueSent[] {
    return this.queues.sent();
  }

  send(env: Envelope, queue: string = DEFAULT_QUEUE): void {
    this.sendEncoded(encodeEnvelope(env), queue);
  }

  sendEncoded(body: Uint8Array, queue: string = DEFAULT_QUEUE): void {
    if (this.isClosed) return;
    if (body.length > this.maxFrameBytes) {
      throw new PheromonesError('invalid-argument', `message of ${body.length} bytes exceeds the frame limit of ${this.maxFrameBytes}`);
    }
    this.queues.push(queue, body);
    this.pendingBytes += INNER_HEADER_BYTES + body.length;
    if (this.queuedBytes >= DRAIN_LOW_WATER) this.needDrain = true;
    if (this.pendingBytes >= RECORD_PLAINTEXT_TARGET) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  close(reason: DisconnectReason, detail = ''): void {
    this.closeWith({ reason, detail, remote: false }, true);
  }

  private closeWith(info: CloseInfo, sendDisconnect: boolean): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queues.clear();
    this.pendingBytes = 0;
    const sock = this.socket;
    if (sendDisconnect && !sock.destroyed && sock.writable) {
      try {
        const body = encodeEnvelope(disconnectEnvelope(info.reason, info.detail));
        this.writeRecord([body], INNER_HEADER_BYTES + body.length);
      } catch {
        // Best effort: the record counter may be exhausted; the socket still ends.
      }
    }
    sock.end();
    // A connection closed before its first turn has not resumed the socket yet: read on
    // (data is dropped, the connection being closed) so the peer's FIN closes the socket
    // now, instead of it lingering paused until the unref'd timer below.
    sock.resume();
    setTimeout(() => sock.destroy(), CLOSE_GRACE_MS).unref();
    this.emitClose(info);
  }

  /** Socket went away by itself. */
  private finish(info: CloseInfo): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queues.clear();
    this.pendingBytes = 0;
    this.socket.destroy();
    this.emitClose(info);
  }

  private emitClose(info: CloseInfo): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    process.nextTick(() => this.emit('close', info));
  }

  /** An authenticated record held invalid content: the peer sent it (BIP324's rule), so it is an offence. */
  private violation(err: Error): void {
    const error =
      err instanceof PheromonesError && err.kind === 'protocol-violation'
        ? err
        : new PheromonesError('protocol-violation', err.message, { cause: err });
    this.closeWith({ reason: DisconnectReason.PROTOCOL_VIOLATION, detail: error.message, remote: false, offence: true, error }, true);
  }

  /**
   * A record that did not authenticate, or whose clear length is out of
   * bounds, may have been damaged or forged by anyone on the path: the link
   * is closed (and redialled as usual) but nobody is blamed.
   */
  private corrupt(err: Error): void {
    const error = new PheromonesError('unavailable', `sealed record damaged or forged on the path: ${err.message}`, { cause: err });
    this.closeWith({ reason: DisconnectReason.CORRUPT_RECORD, detail: error.message, remote: false, error }, true);
  }

  private onData(chunk: Uint8Array): void {
    if (this.isClosed) return;
    if (this.preamble !== undefined && this.preambleBytes < PREAMBLE_LIMIT) {
      const keep = chunk.subarray(0, PREAMBLE_LIMIT - this.preambleBytes);
      this.preamble.push(Buffer.from(keep));
      this.preambleBytes += keep.length;
    }
    this.reader.push(chunk);
    for (;;) {
      // Only decoding is guarded: an exception thrown by a 'message' listener is the
      // listener's bug, not the peer's, and must not be scored as a protocol violation.
      let envs: { env: Envelope; size: number }[];
      let opened = false;
      try {
        const rec = this.reader.next();
        if (rec === undefined) return;
        const plaintext = this.opener.open(rec.header, rec.ciphertext, rec.tag);
        opened = true;
        this.preamble = undefined;
        envs = unpackInnerFrames(plaintext, this.maxFrameBytes).map((body) => ({ env: decodeEnvelope(body), size: body.length }));
      } catch (err) {
        if (err instanceof PheromonesError && err.kind === 'resource-exhausted') {
          this.closeWith({ reason: DisconnectReason.REQUESTED, detail: err.message, remote: false, error: err }, false);
        } else if (opened) {
          this.violation(err as Error);
        } else if (!this.plainDisconnect()) {
          this.corrupt(err as Error);
        }
        return;
      }
      for (const { env, size } of envs) {
        if (env.kind.case === 'disconnect') {
          const d = env.kind.value;
          this.closeWith({ reason: d.reason, detail: d.detail, remote: true }, false);
          return;
        }
        this.emit('message', env, size);
        if (this.isClosed) return;
      }
    }
  }

  /**
   * The responder may reject our handshake finish after we already switched to
   * records: its plain-frame Disconnect then fails as a record. Reported as
   * the remote's reason, not as a protocol violation by the peer.
   */
  private plainDisconnect(): boolean {
    if (this.preamble === undefined) return false;
    try {
      const { body } = decodePlainFrame(Buffer.concat(this.preamble), PREAMBLE_LIMIT);
      const env = decodeEnvelope(body);
      if (env.kind.case !== 'disconnect') return false;
      const d = env.kind.value;
      this.closeWith({ reason: d.reason, detail: d.detail, remote: true }, false);
      return true;
    } catch {
      return false;
    }
  }

  private onSocketDrain(): void {
    this.flush();
    if (this.needDrain && this.queuedBytes < DRAIN_LOW_WATER && !this.isClosed) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  private flush(): void {
    if (this.isClosed) return;
    const sock = this.socket;
    try {
      while (this.pendingBytes > 0 && sock.writableLength < SOCKET_HIGH_WATER) {
        const bodies: Uint8Array[] = [];
        let size = 0;
        for (let body = this.queues.peek(); body !== undefined; body = this.queues.peek()) {
          const next = INNER_HEADER_BYTES + body.length;
          // The frame that would overfill this record opens the next one.
          if (size > 0 && size + next > RECORD_PLAINTEXT_TARGET) break;
          bodies.push(this.queues.take());
          size += next;
          if (size >= RECORD_PLAINTEXT_TARGET) break;
        }
        this.pendingBytes -= size;
        this.writeRecord(bodies, size);
      }
    } catch (err) {
      if (err instanceof PheromonesError && err.kind === 'resource-exhausted') {
        this.closeWith({ reason: DisconnectReason.REQUESTED, detail: err.message, remote: false, error: err }, false);
        return;
      }
      throw err;
    }
    if (this.needDrain && this.queuedBytes < DRAIN_LOW_WATER) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  private writeRecord(bodies: Uint8Array[], size: number): void {
    const header = recordHeader(size);
    let pieces: Buffer[];
    if (bodies.length === 1) {
      // One body (typically a large one): encrypt header and body in place, no plaintext copy.
      const inner = Buffer.allocUnsafe(INNER_HEADER_BYTES);
      inner.writeUInt32BE(bodies[0]!.length, 0);
      pieces = this.sealer.sealParts(header, [inner, bodies[0]!]);
    } else {
      pieces = this.sealer.sealParts(header, [packInnerFrames(bodies, size, recordScratch(size))]);
    }
    const sock = this.socket;
    sock.cork();
    sock.write(header);
    for (const p of pieces) sock.write(p);
    sock.uncork();
  }
}
