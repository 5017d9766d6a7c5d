import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getPublicKey } from '@noble/secp256k1';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  ADDRESS_LENGTH,
  addressFromPublicKey,
  addressHash,
  addressMatchesPublicKey,
  decodeAddress,
  isValidAddress,
  normalizeAddress,
} from '../../src/crypto/address.js';
import { PheromonesError } from '../../src/errors.js';

interface Vectors {
  valid: { secretKey: string; publicKey: string; hash: string; address: string }[];
  uppercase: { address: string; canonical: string };
  invalid: { address: string; reason: string }[];
}

// Compiled to dist/test/unit/; the vectors stay in the source tree.
const vectors = JSON.parse(readFileSync(new URL('../../../test/vectors/address.json', import.meta.url), 'utf8')) as Vectors;

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

test('valid vectors: secret -> public key -> hash -> address, and back', () => {
  assert.ok(vectors.valid.length >= 3);
  for (const v of vectors.valid) {
    const publicKey = getPublicKey(hexToBytes(v.secretKey), true);
    assert.equal(bytesToHex(publicKey), v.publicKey);
    assert.equal(bytesToHex(addressHash(publicKey)), v.hash);
    assert.equal(addressFromPublicKey(publicKey), v.address);
    assert.equal(v.address.length, ADDRESS_LENGTH);
    assert.equal(bytesToHex(decodeAddress(v.address)), v.hash);
    assert.ok(addressMatchesPublicKey(v.address, publicKey));
  }
});

test('an address does not match another key', () => {
  const [a, b] = vectors.valid;
  assert.ok(a && b);
  assert.equal(addressMatchesPublicKey(a.address, hexToBytes(b.publicKey)), false);
});

test('the all-uppercase form decodes and normalizes to lowercase', () => {
  assert.ok(isValidAddress(vectors.uppercase.address));
  assert.equal(normalizeAddress(vectors.uppercase.address), vectors.uppercase.canonical);
});

test('invalid vectors are rejected with invalid-argument', () => {
  for (const v of vectors.invalid) {
    assert.throws(
      () => decodeAddress(v.address),
      (err: unknown) => err instanceof PheromonesError && err.kind === 'invalid-argument' && err.message.startsWith('invalid address'),
      v.reason,
    );
    assert.equal(isValidAddress(v.address), false, v.reason);
  }
});

test('every single-character substitution in every valid address is caught', () => {
  for (const v of vectors.valid) {
    // Positions after 'phm1': data and checksum; the prefix is covered by the wrong-prefix vectors.
    for (let i = 4; i < v.address.length; i++) {
      for (const c of CHARSET) {
        if (c === v.address[i]) continue;
        const typo = v.address.slice(0, i) + c + v.address.slice(i + 1);
        assert.equal(isValidAddress(typo), false, `${typo} (position ${i})`);
      }
    }
  }
});

test('a very long string is rejected without decoding', () => {
  assert.throws(() => decodeAddress(`phm1${'q'.repeat(10_000)}`), /an address is 42 characters/);
});

test('public keys must be 33-byte compressed points', () => {
  const uncompressed = getPublicKey(hexToBytes(vectors.valid[0]!.secretKey), false);
  assert.throws(() => addressFromPublicKey(uncompressed), /33 bytes in compressed SEC1 form/);
  const notOnCurve = new Uint8Array(33);
  notOnCurve[0] = 0x02;
  notOnCurve[32] = 0x05; // x = 5: 5^3 + 7 = 132 is not a square mod p
  assert.throws(() => addressFromPublicKey(notOnCurve), /not a point on secp256k1/);
});
