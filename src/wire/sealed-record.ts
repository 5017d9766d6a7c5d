import { ByteQueue } from './byte-queue.js';
import { FrameTooLargeError, MalformedRecordError } from './errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  INNER_HEADER_BYTES,
  MIN_RECORD_LENGTH,
  RECORD_HEADER_BYTES,
  RECORD_PLAINTEXT_TARGET,
  RECORD_TAG_BYTES,
  maxRecordLength,
} from './limits.js';

/**
 * Sealed record layout: `u32 BE length | ciphertext | 16-byte tag`, with
 * length = ciphertext length + 16. The 4 header bytes are the AEAD's AAD.
 */
export interface RawRecord {
  /** The 4 length bytes (authenticated as AAD). */
  header: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

const SCRATCH_BYTES = RECORD_HEADER_BYTES + 2 * RECORD_PLAINTEXT_TARGET + RECORD_TAG_BYTES;
let scratch: Buffer | undefined;

/**
 * `n` bytes of one process-wide buffer (a fresh one above 128 KiB), for the
 * record layer's transient copies: a record straddling received chunks, a
 * batch's plaintext before sealing. Every use ends before control returns to
 * the event loop (the cipher copies what it reads), so one buffer serves all
 * connections; one per connection cost a node with 192 sessions 24 MiB.
 */
export function recordScratch(n: number): Buffer {
  if (n > SCRATCH_BYTES) return Buffer.allocUnsafe(n);
  scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES);
  return scratch.subarray(0, n);
}

/**
 * Cuts a received byte stream into raw sealed records, bounding sizes before
 * buffering. A returned record's views are valid only until the next use of
 * recordScratch (by any connection): records straddling received chunks are
 * assembled there, since they are decrypted (copied out) straight away.
 */
export class RecordReader {
  private readonly queue = new ByteQueue();
  private readonly maxLength: number;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxLength = maxRecordLength(maxFrameBytes);
  }

  push(chunk: Uint8Array): void {
    this.queue.push(chunk);
  }

  next(): RawRecord | undefined {
    const length = this.queue.peekU32();
    if (length < 0) return undefined;
    if (length > this.maxLength) throw new FrameTooLargeError(length, this.maxLength, 'record');
    if (length < MIN_RECORD_LENGTH) {
      throw new MalformedRecordError(`record of ${length} bytes is below the minimum of ${MIN_RECORD_LENGTH}`);
    }
    if (this.queue.length < RECORD_HEADER_BYTES + length) return undefined;
    const whole = this.queue.take(RECORD_HEADER_BYTES + length, recordScratch);
    const ctEnd = RECORD_HEADER_BYTES + length - RECORD_TAG_BYTES;
    return {
      header: whole.subarray(0, RECORD_HEADER_BYTES),
      ciphertext: whole.subarray(RECORD_HEADER_BYTES, ctEnd),
      tag: whole.subarray(ctEnd),
    };
  }

  get bufferedBytes(): number {
    return this.queue.length;
  }
}

export function recordHeader(ciphertextLength: number): Buffer {
  const h = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  h.writeUInt32BE(ciphertextLength + RECORD_TAG_BYTES, 0);
  return h;
}

/** Total plaintext size of the given bodies packed as inner frames. */
export function packedSize(bodies: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of bodies) n += INNER_HEADER_BYTES + b.length;
  return n;
}

/** Packs bodies back to back as `u32 BE length | body` inner frames, into `out` when given (at least `size` bytes). */
export function packInnerFrames(bodies: readonly Uint8Array[], size = packedSize(bodies), out: Buffer = Buffer.allocUnsafe(size)): Buffer {
  let at = 0;
  for (const b of bodies) {
    out.writeUInt32BE(b.length, at);
    out.set(b, at + INNER_HEADER_BYTES);
    at += INNER_HEADER_BYTES + b.length;
  }
  return out;
}

/**
 * Splits a decrypted record plaintext into inner-frame bodies (views).
 * Every length is checked against what is left and against the frame limit.
 */
export function unpackInnerFrames(plaintext: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  let at = 0;
  while (at < plaintext.length) {
    if (plaintext.length - at < INNER_HEADER_BYTES) {
      throw new MalformedRecordError(`record ends inside an inner frame header at offset ${at}`);
    }
    const length =
      ((plaintext[at]! << 24) | (plaintext[at + 1]! << 16) | (plaintext[at + 2]! << 8) | plaintext[at + 3]!) >>> 0;
    if (length > maxFrameBytes) throw new FrameTooLargeError(length, maxFrameBytes);
    const start = at + INNER_HEADER_BYTES;
    if (length > plaintext.length - start) {
      throw new MalformedRecordError(`inner frame of ${length} bytes overruns its record at offset ${at}`);
    }
    bodies.push(plaintext.subarray(start, start + length));
    at = start + length;
  }
  if (bodies.length === 0) throw new MalformedRecordError('record holds no frame');
  return bodies;
}
