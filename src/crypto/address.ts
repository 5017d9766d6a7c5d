import { bech32m } from '@scure/base';
import { PheromonesError } from '../errors.js';
import { sha256 } from './hash.js';
import { isValidPublicKey, PUBLIC_KEY_BYTES } from './secp256k1.js';

/**
 * Account addresses (docs/keys.md): bech32m (BIP 350) with the human-readable
 * part `phm` over the first 20 bytes of sha256(33-byte compressed public key).
 * bech32m's checksum guarantees that any one to four mistyped characters are
 * caught, which is why addresses are typed by people and node ids are not.
 */

export const ADDRESS_HRP = 'phm';
/** Bytes of the public-key hash an address carries. */
export const ADDRESS_HASH_LENGTH = 20;
/** Length of every valid address: 'phm' + '1' + 32 data characters + 6 checksum characters. */
export const ADDRESS_LENGTH = ADDRESS_HRP.length + 1 + 32 + 6;

/** The 20-byte hash an address encodes: sha256(compressed public key)[0..20]. */
export function addressHash(publicKey: Uint8Array): Uint8Array {
  assertCompressedPublicKey(publicKey);
  return Uint8Array.from(sha256(publicKey).subarray(0, ADDRESS_HASH_LENGTH));
}

/** The address of a 33-byte compressed secp256k1 public key. */
export function addressFromPublicKey(publicKey: Uint8Array): string {
  return bech32m.encode(ADDRESS_HRP, bech32m.toWords(addressHash(publicKey)));
}

/**
 * Checks an address typed by a person and returns its 20-byte hash. Accepts
 * the all-uppercase form too (bech32 allows it, e.g. for QR codes); rejects
 * mixed case, a wrong prefix, a wrong length and any checksum failure.
 */
export function decodeAddress(address: string): Uint8Array {
  // Bound before handing the string to the decoder: addresses come from users and files.
  if (address.length !== ADDRESS_LENGTH) {
    throw invalid(address, `an address is ${ADDRESS_LENGTH} characters, got ${address.length}`);
  }
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32m.decode(address, ADDRESS_LENGTH);
  } catch (err) {
    throw invalid(address, 'checksum or character set does not match (a typo?)', err);
  }
  if (decoded.prefix !== ADDRESS_HRP) {
    throw invalid(address, `prefix must be '${ADDRESS_HRP}', got '${decoded.prefix}'`);
  }
  const hash = bech32m.fromWordsUnsafe(decoded.words);
  if (!hash || hash.length !== ADDRESS_HASH_LENGTH) {
    throw invalid(address, `payload must be ${ADDRESS_HASH_LENGTH} bytes`);
  }
  return hash;
}

/** The canonical (lowercase) spelling of a valid address. */
export function normalizeAddress(address: string): string {
  return bech32m.encode(ADDRESS_HRP, bech32m.toWords(decodeAddress(address)));
}

export function isValidAddress(address: string): boolean {
  try {
    decodeAddress(address);
    return true;
  } catch {
    return false;
  }
}

/** True when `publicKey` is the key behind `address`. */
export function addressMatchesPublicKey(address: string, publicKey: Uint8Array): boolean {
  const expected = decodeAddress(address);
  const actual = addressHash(publicKey);
  let diff = 0;
  for (let i = 0; i < ADDRESS_HASH_LENGTH; i++) diff |= expected[i]! ^ actual[i]!;
  return diff === 0;
}

function assertCompressedPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== PUBLIC_KEY_BYTES || (publicKey[0] !== 0x02 && publicKey[0] !== 0x03)) {
    throw new PheromonesError(
      'invalid-argument',
      `a public key must be ${PUBLIC_KEY_BYTES} bytes in compressed SEC1 form (02/03 prefix), got ${publicKey.length} bytes`,
    );
  }
  if (!isValidPublicKey(publicKey)) {
    throw new PheromonesError('invalid-argument', 'the public key is not a point on secp256k1');
  }
}

function invalid(address: string, why: string, cause?: unknown): PheromonesError {
  const shown = address.length > 64 ? `${address.slice(0, 64)}...` : address;
  return new PheromonesError('invalid-argument', `invalid address '${shown}': ${why}`, { cause });
}
