import { ByteWriter, bytesToBigInt, compareBytes, sha256, toHex } from './bytes.js';

export interface BlockHeader {
  readonly version: number;
  readonly height: number;
  /** 32 bytes; zero for genesis. */
  readonly prevHash: Uint8Array;
  readonly timestampMs: number;
  /** 32 bytes. */
  readonly merkleRoot: Uint8Array;
  /** 32 bytes, big-endian 256-bit integer. */
  readonly target: Uint8Array;
  readonly nonce: bigint;
  /** 33-byte compressed public key. */
  readonly miner: Uint8Array;
}

export const HEADER_VERSION = 1;
export const HEADER_BYTES = 4 + 8 + 32 + 8 + 32 + 32 + 8 + 33;
/** Offset of the u64 nonce inside the encoded header; the miner rewrites only these 8 bytes. */
export const HEADER_NONCE_OFFSET = 4 + 8 + 32 + 8 + 32 + 32;

/**
 * u32 BE version || u64 BE height || prev hash (32) || u64 BE timestamp_ms
 * || merkle root (32) || target (32) || u64 BE nonce || miner pubkey (33)
 * = 157 bytes. The block hash is sha256 of exactly these bytes.
 */
export function encodeHeader(h: BlockHeader): Uint8Array {
  if (h.prevHash.length !== 32 || h.merkleRoot.length !== 32 || h.target.length !== 32) {
    throw new RangeError('prevHash, merkleRoot and target must be 32 bytes');
  }
  if (h.miner.length !== 33) throw new RangeError('miner public key must be 33 bytes');
  return new ByteWriter()
    .u32(h.version)
    .u64(h.height)
    .bytes(h.prevHash)
    .u64(h.timestampMs)
    .bytes(h.merkleRoot)
    .bytes(h.target)
    .u64(h.nonce)
    .bytes(h.miner)
    .finish();
}

export function hashHeader(h: BlockHeader): Uint8Array {
  return sha256(encodeHeader(h));
}

/** Proof of work holds when the hash, read as a big-endian integer, is <= the target. */
export function meetsTarget(hash: Uint8Array, target: Uint8Array): boolean {
  return compareBytes(hash, target) <= 0;
}

const TWO_256 = 1n << 256n;

/** Expected number of hashes to meet `target`: 2^256 / (target + 1), as in Bitcoin. */
export function workOf(target: Uint8Array): bigint {
  return TWO_256 / (bytesToBigInt(target) + 1n);
}

export function headerSummary(h: BlockHeader, hash: Uint8Array): string {
  return `#${h.height} ${toHex(hash).slice(0, 16)}`;
}

/** Inverse of encodeHeader; `bytes` must be exactly HEADER_BYTES long. */
export function decodeHeaderBytes(bytes: Uint8Array): BlockHeader {
  if (bytes.length !== HEADER_BYTES) throw new RangeError(`header must be ${HEADER_BYTES} bytes`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (off: number): number => {
    const x = v.getBigUint64(off);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('u64 field out of range');
    return Number(x);
  };
  return {
    version: v.getUint32(0),
    height: u64(4),
    prevHash: bytes.slice(12, 44),
    timestampMs: u64(44),
    merkleRoot: bytes.slice(52, 84),
    target: bytes.slice(84, 116),
    nonce: v.getBigUint64(116),
    miner: bytes.slice(124, 157),
  };
}
