/**
 * Protobuf wire primitives for the hand-written codecs of the hot messages
 * (gossip-envelope.ts, the message log's record). protobuf-es builds each
 * message through reflection and allocates per field; at hundreds of
 * messages a second per node that was most of the CPU and garbage. Output is
 * byte-for-byte what protobuf-es writes (fields in number order, proto3 zero
 * values left out), which test/unit/wire-gossip-envelope.test.ts checks.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of `n` (0 <= n < 2^53) as a varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes of a uint64 field's value as a varint (protobuf-es's bigint encoding of it). */
export function varint64Size(n: bigint): number {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? varintSize(Number(n)) : varintSize(Number(n >> 28n)) + 4;
}

/** Size of a length-delimited field holding `length` bytes, tag included (tags here are < 16 fields, one byte). */
export function lenFieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/**
 * A writer into a buffer sized in advance by the caller (sizes from the
 * functions above), so encoding is one allocation and no copies but the
 * field bytes themselves.
 */
export class ExactWriter {
  readonly buf: Buffer;
  private at = 0;

  /**
   * `kept`: the encoding outlives the moment (the graft cache, a logged
   * record's views), so it gets its own allocation. A slice of Node's shared
   * 8 KiB pool keeps the whole pool alive: on the 32-node bench at 100 msgs/s,
   * ArrayBuffer memory live after a full GC was 33 MiB with pooled gossip
   * bodies and 14 MiB without (the graft caches themselves hold about 10).
   */
  constructor(size: number, kept = false) {
    this.buf = kept ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
  }

  varint(n: number): this {
    while (n >= 0x80) {
      this.buf[this.at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.at++] = n;
    return this;
  }

  varint64(n: bigint): this {
    if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return this.varint(Number(n));
    // Low 28 bits as four 7-bit groups, then the rest.
    let low = Number(n & 0xfffffffn);
    for (let i = 0; i < 4; i++) {
      this.buf[this.at++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    return this.varint(Number(n >> 28n));
  }

  fixed64(n: bigint): this {
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, n), this.at);
    this.at += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    return this.varint(b.length).raw(b);
  }

  /** `b` as is, without a length. */
  raw(b: Uint8Array): this {
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  /** The bytes written so far from `start`, as a view (e.g. a field just written, located by `offset` before it). */
  view(start: number): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + start, this.at - start);
  }

  get offset(): number {
    return this.at;
  }

  /** A string's UTF-8 bytes, whose length the caller measured with Buffer.byteLength. */
  utf8(s: string, length: number): this {
    this.varint(length);
    this.at += this.buf.write(s, this.at, length, 'utf8');
    return this;
  }

  /**
   * The whole buffer, checked to be exactly filled (a size mistake is a bug,
   * not a short frame); a plain Uint8Array, as protobuf-es returns.
   */
  finish(): Uint8Array {
    if (this.at !== this.buf.length) throw new Error(`encoder sized ${this.buf.length} bytes but wrote ${this.at}`);
    return this.view(0);
  }
}

/**
 * A bounds-checked reader for the fast decoders. Every method returns
 * undefined (never throws) on anything short or unexpected: the caller then
 * hands the bytes to protobuf-es, which decides (decodes or rejects) them.
 */
export class LenientReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint of at most 7 bytes (49 bits, always a safe integer). */
  varint(): number | undefined {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7 && this.pos < this.end; i++) {
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    return undefined;
  }

  /** A length-delimited field's contents, as a view. */
  bytes(): Uint8Array | undefined {
    const length = this.varint();
    if (length === undefined || length > this.end - this.pos) return undefined;
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  fixed64(): bigint | undefined {
    if (this.end - this.pos < 8) return undefined;
    const b = this.buf;
    const p = this.pos;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    this.pos += 8;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
}
