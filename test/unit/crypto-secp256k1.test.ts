import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import * as secp from '@noble/secp256k1';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  InvalidKeyError,
  ecdhSharedX,
  ephemeralKeyFromSecret,
  generateEphemeralKey,
  isValidSecretKey,
  privateKeyObject,
  publicKeyObject,
  publicKeyOf,
  signMessage,
  signMessageAsync,
  verifyMessage,
  verifyMessageAsync,
} from '../../src/crypto/secp256k1.js';
import { hkdfSha256 } from '../../src/crypto/hash.js';

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const bytes32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');

test('keys, ECDH and signatures agree byte for byte with noble and with OpenSSL', () => {
  for (let i = 0; i < 16; i++) {
    const a = generateEphemeralKey();
    const b = generateEphemeralKey();
    assert.equal(hex(a.publicKey), hex(secp.getPublicKey(a.secret, true)));
    const x = ecdhSharedX(a, b.publicKey);
    assert.equal(hex(x), hex(secp.getSharedSecret(a.secret, b.publicKey, true).subarray(1)));
    assert.equal(hex(x), hex(diffieHellman({ privateKey: a.privateKey, publicKey: publicKeyObject(b.publicKey) })));
    assert.equal(hex(ecdhSharedX(b, publicKeyObject(a.publicKey))), hex(x));

    const message = Buffer.from(`message ${i}`);
    const sig = signMessage(a.secret, message);
    // RFC 6979 with no extra entropy, low-S: the same bytes noble produces.
    assert.equal(hex(sig), hex(secp.sign(sha256(message), a.secret, { prehash: false, lowS: true })));
    assert.equal(hex(signMessage(privateKeyObject(a.secret), message)), hex(sig));
    assert.ok(nodeVerify('sha256', message, { key: publicKeyObject(a.publicKey), dsaEncoding: 'ieee-p1363' }, sig));
    const opensslSig = nodeSign('sha256', message, { key: a.privateKey, dsaEncoding: 'ieee-p1363' });
    const s = BigInt('0x' + hex(opensslSig.subarray(32)));
    const lowS = s > N >> 1n ? Buffer.concat([opensslSig.subarray(0, 32), bytes32(N - s)]) : opensslSig;
    assert.ok(verifyMessage(a.publicKey, message, lowS));
    assert.equal(verifyMessage(b.publicKey, message, lowS), false);
  }
});

test('KeyObjects made elsewhere work for signing, verifying and ECDH', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const secret = Buffer.concat([Buffer.alloc(32 - d.length), d]);
  const message = Buffer.from('foreign key');
  const sig = await signMessageAsync(createPrivateKey(privateKey.export({ format: 'pem', type: 'sec1' })), message);
  assert.deepEqual(sig, signMessage(secret, message));
  assert.ok(await verifyMessageAsync(publicKey, message, sig));
  assert.ok(verifyMessage(createPublicKey(privateKey), message, sig));
  assert.ok(verifyMessage(privateKey, message, sig));
  const other = generateEphemeralKey();
  assert.deepEqual(ecdhSharedX(other, publicKey), ecdhSharedX(ephemeralKeyFromSecret(secret), other.publicKey));
  const { publicKey: p256 } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  assert.equal(verifyMessage(p256, message, sig), false);
  assert.throws(() => ecdhSharedX(other, p256), InvalidKeyError);
});

test('malformed keys and signatures are refused without throwing from verify', () => {
  const key = generateEphemeralKey();
  const message = Buffer.from('m');
  const sig = signMessage(key.secret, message);
  assert.ok(verifyMessage(key.publicKey, message, sig));
  const offCurve = Buffer.concat([Buffer.from([2]), Buffer.alloc(32, 0xff)]);
  assert.equal(verifyMessage(offCurve, message, sig), false);
  assert.equal(verifyMessage(key.publicKey.subarray(0, 32), message, sig), false);
  assert.equal(verifyMessage(Buffer.concat([Buffer.from([4]), key.publicKey.subarray(1)]), message, sig), false);
  assert.equal(verifyMessage(key.publicKey, message, sig.subarray(0, 63)), false);
  assert.equal(verifyMessage(key.publicKey, message, Buffer.concat([bytes32(N), sig.subarray(32)])), false);
  assert.equal(verifyMessage(key.publicKey, message, Buffer.concat([Buffer.alloc(32), sig.subarray(32)])), false);
  assert.equal(verifyMessage(key.publicKey, message, Buffer.concat([sig.subarray(0, 32), Buffer.alloc(32)])), false);
  assert.throws(() => ecdhSharedX(key, offCurve), InvalidKeyError);
  assert.throws(() => signMessage(new Uint8Array(32), message), InvalidKeyError);
  assert.throws(() => publicKeyOf(bytes32(N)), InvalidKeyError);
  assert.equal(isValidSecretKey(bytes32(N - 1n)), true);
  assert.equal(isValidSecretKey(bytes32(N)), false);
  assert.equal(isValidSecretKey(new Uint8Array(32)), false);
});

test('HKDF-SHA256 matches node:crypto for every output length class, including the RFC 5869 case 1 vector', () => {
  const ikm = Buffer.alloc(22, 0x0b);
  const salt = Buffer.from('000102030405060708090a0b0c', 'hex');
  const info = Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex');
  assert.equal(
    hex(hkdfSha256(ikm, salt, info, 42)),
    '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  );
  for (const length of [0, 1, 31, 32, 33, 64, 65, 255 * 32]) {
    for (const s of [salt, Buffer.alloc(0)]) {
      assert.equal(hex(hkdfSha256(ikm, s, info, length)), hex(Buffer.from(hkdfSync('sha256', ikm, s, info, length))));
    }
  }
  assert.throws(() => hkdfSha256(ikm, salt, info, 255 * 32 + 1), RangeError);
});
