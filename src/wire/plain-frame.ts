import { createHash, timingSafeEqual } from 'node:crypto';
import { ByteQueue } from './byte-queue.js';
import { FrameHashMismatchError, FrameTooLargeError, TruncatedFrameError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, PLAIN_HEADER_BYTES } from './limits.js';

/**
 * Plain frames carry the handshake (before any key exists):
 * `u32 BE body length | sha256(body) (32 bytes) | body`.
 */
export function encodePlainFrame(body: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  if (body.length > maxFrameBytes) throw new FrameTooLargeError(body.length, maxFrameBytes);
  const out = Buffer.allocUnsafe(PLAIN_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  createHash('sha256').update(body).digest().copy(out, 4);
  out.set(body, PLAIN_HEADER_BYTES);
  return out;
}

function checkedBody(hash: Uint8Array, body: Uint8Array): Uint8Array {
  const actual = createHash('sha256').update(body).digest();
  if (!timingSafeEqual(actual, hash)) throw new FrameHashMismatchError();
  return body;
}

/**
 * Decodes the plain frame at the start of `buf` in one shot.
 * Returns the body (a view into `buf`) and the number of bytes consumed.
 */
export function decodePlainFrame(
  buf: Uint8Array,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): { body: Uint8Array; consumed: number } {
  if (buf.length < 4) throw new TruncatedFrameError(buf.length, 4);
  const length = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  if (length > maxFrameBytes) throw new FrameTooLargeError(length, maxFrameBytes);
  const need = PLAIN_HEADER_BYTES + length;
  if (buf.length < need) throw new TruncatedFrameError(buf.length, need);
  const body = checkedBody(buf.subarray(4, PLAIN_HEADER_BYTES), buf.subarray(PLAIN_HEADER_BYTES, need));
  return { body, consumed: need };
}

/**
 * Streaming plain-frame decoder: push received chunks, pull complete bodies.
 * The announced length is checked before the body is waited for, so the
 * buffer never holds more than one maximal frame plus the last chunk.
 */
export class PlainFrameDecoder {
  private readonly queue = new ByteQueue();
  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  push(chunk: Uint8Array): void {
    this.queue.push(chunk);
  }

  /** The next complete body, or undefined while more bytes are needed. Throws typed errors. */
  next(): Uint8Array | undefined {
    const length = this.queue.peekU32();
    if (length < 0) return undefined;
    if (length > this.maxFrameBytes) throw new FrameTooLargeError(length, this.maxFrameBytes);
    if (this.queue.length < PLAIN_HEADER_BYTES + length) return undefined;
    this.queue.take(4);
    const hash = this.queue.take(32);
    return checkedBody(hash, this.queue.take(length));
  }

  /** Bytes buffered beyond the frames taken so far (e.g. sealed records after the handshake). */
  takeRemaining(): Uint8Array {
    return this.queue.takeAll();
  }

  get bufferedBytes(): number {
    return this.queue.length;
  }
}
