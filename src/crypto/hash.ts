import { createHash, createHmac, hash } from 'node:crypto';

export function sha256(...parts: Uint8Array[]): Buffer {
  // One part: the one-shot hash, without a Hash object per call.
  if (parts.length === 1) return hash('sha256', parts[0]!, 'buffer');
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

const SHA256_BYTES = 32;

/** HKDF-SHA256 extract (RFC 5869): the pseudorandom key for hkdfSha256Expand. */
export function hkdfSha256Extract(ikm: Uint8Array, salt: Uint8Array): Buffer {
  return createHmac('sha256', salt.length > 0 ? salt : Buffer.alloc(SHA256_BYTES)).update(ikm).digest();
}

/**
 * HKDF-SHA256 expand (RFC 5869). Built from HMAC rather than hkdfSync, which
 * re-imports its keys on every call and costs 2-3x as much for a 32-byte key.
 */
export function hkdfSha256Expand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > 255 * SHA256_BYTES) {
    throw new RangeError(`HKDF-SHA256 output length ${length} is outside 0..${255 * SHA256_BYTES}`);
  }
  const blocks: Buffer[] = [];
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 1; i * SHA256_BYTES < length + SHA256_BYTES; i++) {
    previous = createHmac('sha256', prk).update(previous).update(info).update(Buffer.of(i)).digest();
    blocks.push(previous);
  }
  const okm = blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks);
  return okm.length === length ? okm : okm.subarray(0, length);
}

/** HKDF-SHA256 (RFC 5869). */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  return hkdfSha256Expand(hkdfSha256Extract(ikm, salt), info, length);
}

/** Lower-case hex of `bytes` (any Uint8Array view, without copying it). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/**
 * MurmurHash3's 32-bit finalizer: every input bit moves about half the output
 * bits. For in-memory tables keyed by ids XORed with a per-process secret, so
 * that ids crafted by a peer cannot choose where they land.
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The little-endian 32-bit word at `at`. */
export function wordLE(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}
