import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as secp from '@noble/secp256k1';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';

/**
 * secp256k1 for chain transactions. Signing uses @noble (deterministic
 * RFC 6979, so test vectors are reproducible); verification uses OpenSSL via
 * node:crypto, which is about 8x faster here than pure JS and is what block
 * import spends its time on.
 */

// noble's synchronous sign needs these; setting them is idempotent.
secp.hashes.sha256 ??= nobleSha256;
secp.hashes.hmacSha256 ??= (key: Uint8Array, msg: Uint8Array) => hmac(nobleSha256, key, msg);

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

/** DER SubjectPublicKeyInfo prefix for a 33-byte compressed secp256k1 key. */
const SPKI_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return secp.getPublicKey(privateKey, true);
}

export function randomPrivateKey(): Uint8Array {
  return secp.utils.randomSecretKey();
}

/** Compact 64-byte low-S signature over a 32-byte digest (no further hashing). */
export function signDigest(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return secp.sign(digest, privateKey, { prehash: false, lowS: true });
}

const keyCache = new Map<string, KeyObject | null>();
const KEY_CACHE_MAX = 4096;

function keyObject(publicKey: Uint8Array): KeyObject | null {
  const k = Buffer.from(publicKey).toString('hex');
  let key = keyCache.get(k);
  if (key !== undefined) return key;
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    key = null;
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(k, key);
  return key;
}

function isLowS(signature: Uint8Array): boolean {
  const s = BigInt('0x' + Buffer.from(signature.subarray(32, 64)).toString('hex'));
  return s >= 1n && s <= HALF_N;
}

/**
 * True when `signature` (compact r||s, low S) is valid for
 * digest = sha256(message) under the 33-byte compressed `publicKey`.
 * Takes the message rather than the digest because OpenSSL hashes it itself.
 */
export function verifyMessage(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 33) return false;
  if (!isLowS(signature)) return false;
  const key = keyObject(publicKey);
  if (key === null) return false;
  try {
    return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
