import type { KeyObject } from 'node:crypto';
import * as secp from '@noble/secp256k1';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { InvalidKeyError, publicKeyObject, publicKeyOf as cryptoPublicKeyOf, verifyMessage as cryptoVerify } from '../crypto/secp256k1.js';

/**
 * secp256k1 for chain transactions. Key derivation and verification are the
 * crypto layer's (OpenSSL through node:crypto, about 8x the pure-JS rate;
 * verification is what block import spends its time on). Signing stays on
 * @noble: RFC 6979 deterministic signatures keep the test vectors reproducible.
 */

// noble's synchronous sign needs these; setting them is idempotent.
secp.hashes.sha256 ??= nobleSha256;
secp.hashes.hmacSha256 ??= (key: Uint8Array, msg: Uint8Array) => hmac(nobleSha256, key, msg);

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return new Uint8Array(cryptoPublicKeyOf(privateKey));
}

export function randomPrivateKey(): Uint8Array {
  return secp.utils.randomSecretKey();
}

/** Compact 64-byte low-S signature over a 32-byte digest (no further hashing), RFC 6979. */
export function signDigest(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  return secp.sign(digest, privateKey, { prehash: false, lowS: true });
}

/** Parsed public keys, so a block of one author's messages imports each key once. */
const keyCache = new Map<string, KeyObject | null>();
const KEY_CACHE_MAX = 4096;

function keyObject(publicKey: Uint8Array): KeyObject | null {
  const k = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString('hex');
  let key = keyCache.get(k);
  if (key !== undefined) return key;
  try {
    key = publicKeyObject(publicKey);
  } catch (err) {
    if (!(err instanceof InvalidKeyError)) throw err;
    key = null;
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(k, key);
  return key;
}

/**
 * True when `signature` (compact r||s, low S) is valid for
 * digest = sha256(message) under the 33-byte compressed `publicKey`.
 * Takes the message rather than the digest because OpenSSL hashes it itself.
 */
export function verifyMessage(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 33) return false;
  const key = keyObject(publicKey);
  if (key === null) return false;
  try {
    return cryptoVerify(key, message, signature);
  } catch {
    return false;
  }
}
