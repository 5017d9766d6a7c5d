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
  const topic = new TextEncoder().encode(f.topic);
  const fixed = new Uint8Array(8 + 8 + 4);
  const view = new DataView(fixed.buffer);
  view.setBigUint64(0, BigInt.asUintN(64, f.timestampMs));
  view.setBigUint64(8, BigInt.asUintN(64, f.nonce));
  view.setUint32(16, topic.length);
  const digest = sha256(DOMAIN, f.origin, fixed, topic, f.payload);
  // A plain Uint8Array view, so ids compare equal however they were made.
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}
