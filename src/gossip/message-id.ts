import { ascii, sha256 } from '../crypto/hash.js';

const DOMAIN = ascii('pheromones/gossip/v1');

export interface MessageIdFields {
  /** 32-byte node id of the origin. */
  origin: Uint8Array;
  timestampMs: bigint;
  nonce: bigint;
  topic: string;
  payload: Uint8Array;
}

/**
 * The network-wide message id (docs/protocol.md, "Gossip"):
 * sha256("pheromones/gossip/v1" || origin(32) || u64 BE timestamp_ms ||
 * u64 BE nonce || u32 BE topic length || topic utf8 || payload).
 * ttl and hops are left out because they change at every hop.
 */
export function computeMessageId(f: MessageIdFields): Uint8Array {
  const topicLength = Buffer.byteLength(f.topic, 'utf8');
  const size = DOMAIN.length + f.origin.length + 8 + 8 + 4 + topicLength + f.payload.length;
  // Every received message is hashed once to check its id: its preimage is
  // laid out in one reused buffer and hashed in one call.
  const buf = preimageBuffer(size);
  buf.set(DOMAIN, 0);
  let at = DOMAIN.length;
  buf.set(f.origin, at);
  at += f.origin.length;
  at = buf.writeBigUInt64BE(BigInt.asUintN(64, f.timestampMs), at);
  at = buf.writeBigUInt64BE(BigInt.asUintN(64, f.nonce), at);
  at = buf.writeUInt32BE(topicLength, at);
  at += buf.write(f.topic, at, topicLength, 'utf8');
  buf.set(f.payload, at);
  const digest = sha256(buf);
  // A plain Uint8Array view, so ids compare equal however they were made.
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** Preimages up to this size reuse one buffer; larger ones (rare, up to the frame limit) get their own. */
const REUSED_PREIMAGE_BYTES = 64 * 1024;
let preimage: Buffer | undefined;

function preimageBuffer(size: number): Buffer {
  if (size > REUSED_PREIMAGE_BYTES) return Buffer.allocUnsafe(size);
  preimage ??= Buffer.allocUnsafeSlow(REUSED_PREIMAGE_BYTES);
  return preimage.subarray(0, size);
}
