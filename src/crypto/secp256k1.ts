import { createHash, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as TinySecp256k1 from 'tiny-secp256k1';

/**
 * secp256k1 through tiny-secp256k1 (bitcoin-core's libsecp256k1 compiled to
 * WebAssembly). Measured on this machine against node:crypto (OpenSSL's
 * generic-curve code) and @noble/secp256k1 3.2, ops/s: key generation 7,600
 * vs 2,400 vs 2,900; ECDH 4,000 vs 1,400 vs 310; sign 7,000 vs 1,200 vs
 * 2,400; verify 3,400 vs 1,500 (plus key import) vs 380. Noble stays as the
 * independent reference that checks test/vectors. Signatures are RFC 6979
 * (deterministic) and low-S. KeyObjects are still accepted and returned so
 * callers that hold them keep working; their raw bytes are remembered.
 */

export const PUBLIC_KEY_BYTES = 33;
export const SECRET_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

const N_BYTES = Buffer.from('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141', 'hex');
const HALF_N_BYTES = Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex');
const ZERO_32 = Buffer.alloc(32);

// DER prefixes for a compressed SubjectPublicKeyInfo and a SEC1 private key, curve secp256k1.
const SPKI_COMPRESSED_PREFIX = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');
const SEC1_PREFIX = Buffer.from('302e0201010420', 'hex');
const SEC1_SUFFIX = Buffer.from('a00706052b8104000a', 'hex');

/** Thrown for bytes that are not a usable secp256k1 key; callers map it to their own error. */
export class InvalidKeyError extends Error {}

let loaded: typeof TinySecp256k1 | undefined;

/**
 * Loaded on first use: compiling the 1.2 MB WebAssembly module takes about
 * 100 ms, which processes that never touch a key (CLI commands) should not pay.
 */
function lib(): typeof TinySecp256k1 {
  return (loaded ??= createRequire(import.meta.url)('tiny-secp256k1') as typeof TinySecp256k1);
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

function digest(message: Uint8Array): Buffer {
  return createHash('sha256').update(message).digest();
}

export function isValidSecretKey(secret: Uint8Array): boolean {
  if (secret.length !== SECRET_KEY_BYTES) return false;
  // Big-endian byte order compares like the numbers: 0 < d < n.
  const d = asBuffer(secret);
  return !d.equals(ZERO_32) && Buffer.compare(d, N_BYTES) < 0;
}

function isCompressedPoint(publicKey: Uint8Array): boolean {
  return publicKey.length === PUBLIC_KEY_BYTES && (publicKey[0] === 2 || publicKey[0] === 3) && lib().isPoint(publicKey);
}

/** 33-byte compressed public key of a secret. */
export function publicKeyOf(secret: Uint8Array): Buffer {
  if (!isValidSecretKey(secret)) throw new InvalidKeyError('secret key is not a valid secp256k1 scalar');
  return asBuffer(lib().pointFromScalar(secret, true)!);
}

/** Raw bytes behind the KeyObjects made here, so signing and verifying with them skip an export. */
const secretOfKey = new WeakMap<KeyObject, Uint8Array>();
const publicOfKey = new WeakMap<KeyObject, Uint8Array>();

export function privateKeyObject(secret: Uint8Array): KeyObject {
  if (!isValidSecretKey(secret)) throw new InvalidKeyError('secret key is not a valid secp256k1 scalar');
  const key = createPrivateKey({ key: Buffer.concat([SEC1_PREFIX, secret, SEC1_SUFFIX]), format: 'der', type: 'sec1' });
  secretOfKey.set(key, Uint8Array.from(secret));
  return key;
}

/** Imports a 33-byte compressed key; throws InvalidKeyError unless it is a point on the curve. */
export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== PUBLIC_KEY_BYTES || (publicKey[0] !== 2 && publicKey[0] !== 3)) {
    throw new InvalidKeyError('public key is not a 33-byte compressed secp256k1 key');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_COMPRESSED_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    throw new InvalidKeyError('public key is not a point on secp256k1');
  }
  publicOfKey.set(key, Uint8Array.from(publicKey));
  return key;
}

function isSecp256k1(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp256k1';
}

function secretOf(key: KeyObject): Uint8Array {
  let secret = secretOfKey.get(key);
  if (secret === undefined) {
    if (key.type !== 'private' || !isSecp256k1(key)) throw new InvalidKeyError('key is not a secp256k1 private key');
    const d = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
    secret = Buffer.concat([Buffer.alloc(SECRET_KEY_BYTES - d.length), d]);
    secretOfKey.set(key, secret);
  }
  return secret;
}

/** The 33 compressed bytes of a public key given as bytes or as a KeyObject made anywhere. */
function publicBytesOf(key: Uint8Array | KeyObject): Uint8Array {
  if (key instanceof Uint8Array) return key;
  let raw = publicOfKey.get(key);
  if (raw === undefined) {
    if (!isSecp256k1(key)) throw new InvalidKeyError('key is not a secp256k1 key');
    if (key.type === 'private') {
      raw = publicKeyOf(secretOf(key));
    } else {
      const jwk = key.export({ format: 'jwk' });
      const x = Buffer.from(jwk.x!, 'base64url');
      const y = Buffer.from(jwk.y!, 'base64url');
      raw = Buffer.concat([Buffer.from([(y[y.length - 1]! & 1) === 1 ? 3 : 2]), Buffer.alloc(32 - x.length), x]);
    }
    publicOfKey.set(key, raw);
  }
  return raw;
}

export function isValidPublicKey(publicKey: Uint8Array): boolean {
  return isCompressedPoint(publicKey);
}

/** A handshake-only key pair. */
export interface EphemeralKey {
  readonly publicKey: Uint8Array;
  /** 32-byte secret scalar. */
  readonly secret: Uint8Array;
  /** The secret as a node:crypto key, made on first access (nothing in the handshake needs it). */
  readonly privateKey: KeyObject;
}

function ephemeralFromSecret(secret: Uint8Array): EphemeralKey {
  const publicKey = publicKeyOf(secret);
  let privateKey: KeyObject | undefined;
  return {
    publicKey,
    secret,
    get privateKey(): KeyObject {
      return (privateKey ??= privateKeyObject(secret));
    },
  };
}

export function generateEphemeralKey(): EphemeralKey {
  for (;;) {
    const secret = randomBytes(SECRET_KEY_BYTES);
    if (isValidSecretKey(secret)) return ephemeralFromSecret(secret);
  }
}

/** Same as generateEphemeralKey (kept for callers written when key generation ran on the thread pool). */
export function generateEphemeralKeyAsync(): Promise<EphemeralKey> {
  return new Promise((resolve) => resolve(generateEphemeralKey()));
}

/** An ephemeral key from fixed secret bytes (test vectors). */
export function ephemeralKeyFromSecret(secret: Uint8Array): EphemeralKey {
  return ephemeralFromSecret(Uint8Array.from(secret));
}

/**
 * ECDH: the 32-byte x-coordinate of own.secret * peerPublic. Throws InvalidKeyError for a bad key.
 * libsecp256k1's point multiplication by an arbitrary point is not constant-time; an
 * ephemeral secret is multiplied exactly once, so timing reveals at most one sample of it.
 */
export function ecdhSharedX(own: EphemeralKey, peerPublic: Uint8Array | KeyObject): Buffer {
  const point = publicBytesOf(peerPublic);
  if (point.length !== PUBLIC_KEY_BYTES || (point[0] !== 2 && point[0] !== 3)) {
    throw new InvalidKeyError('public key is not a 33-byte compressed secp256k1 key');
  }
  let shared: Uint8Array | null;
  try {
    shared = lib().pointMultiply(point, own.secret, true); // parses, so validates, the point
  } catch {
    throw new InvalidKeyError('public key is not a point on secp256k1');
  }
  if (shared === null) throw new InvalidKeyError('ECDH produced the point at infinity');
  return asBuffer(shared).subarray(1);
}

/**
 * ECDSA over sha256(message): 64-byte compact r||s, low-S, nonce per RFC 6979
 * (deterministic, as noble signs the test vectors). `key` is the 32-byte
 * secret or a node:crypto private key.
 */
export function signMessage(key: KeyObject | Uint8Array, message: Uint8Array): Buffer {
  const secret = key instanceof Uint8Array ? key : secretOf(key);
  if (!isValidSecretKey(secret)) throw new InvalidKeyError('secret key is not a valid secp256k1 scalar');
  return asBuffer(lib().sign(digest(message), secret));
}

/** signMessage as a promise (kept for callers written when signing ran on the thread pool). */
export function signMessageAsync(key: KeyObject | Uint8Array, message: Uint8Array): Promise<Buffer> {
  return new Promise((resolve) => resolve(signMessage(key, message)));
}

/** Verifies a compact low-S signature over sha256(message). Malformed input is just `false`. */
export function verifyMessage(publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const sig = asBuffer(signature);
  const r = sig.subarray(0, 32);
  const s = sig.subarray(32);
  // Require 0 < r < n and 0 < s <= n/2 (low-S): the library would throw for r or s >= n.
  if (r.equals(ZERO_32) || Buffer.compare(r, N_BYTES) >= 0 || s.equals(ZERO_32) || Buffer.compare(s, HALF_N_BYTES) > 0) {
    return false;
  }
  let point: Uint8Array;
  try {
    point = publicBytesOf(publicKey);
  } catch {
    return false;
  }
  if (point.length !== PUBLIC_KEY_BYTES || (point[0] !== 2 && point[0] !== 3)) return false;
  try {
    // strict: a high-S signature is rejected, not normalised first.
    return lib().verify(digest(message), point, sig, true);
  } catch {
    return false; // not a point on the curve
  }
}

/** verifyMessage as a promise (kept for callers written when verification ran on the thread pool). */
export function verifyMessageAsync(publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return Promise.resolve(verifyMessage(publicKey, message, signature));
}
