import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBinary } from '@bufbuild/protobuf';
import * as secp from '@noble/secp256k1';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { EnvelopeSchema } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { identityFromSecret, signingKeyOf } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { signMessage, verifyMessage } from '../../src/crypto/secp256k1.js';
import { buildHandshakeVectors, type HandshakeVectors, type RecordVector } from '../vectors/generate-handshake.js';

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);

const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/vectors/handshake.json', import.meta.url)), 'utf8'),
) as HandshakeVectors;
const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
};

test('the production handshake code reproduces every byte of test/vectors/handshake.json', async () => {
  // Runs initiatorStart/responderOnInit/initiatorOnResponse/responderOnFinish with the
  // fixed secrets; node:crypto verifies both noble signatures along the way.
  assert.deepEqual(await buildHandshakeVectors(), vectors);
});

/** The plain frame's fields, parsed and checked with noble's sha256 only. */
function parsePlainFrame(frameHex: string) {
  const f = h(frameHex);
  const len = new DataView(f.buffer).getUint32(0);
  assert.equal(f.length, 36 + len);
  const body = f.subarray(36);
  assert.equal(hex(f.subarray(4, 36)), hex(sha256(body)));
  return fromBinary(EnvelopeSchema, body);
}

test('an independent noble implementation derives the same handshake values', () => {
  const v = vectors;
  assert.equal(v.network_id, networkIdFor(v.network));
  assert.equal(v.network_id, new DataView(sha256(ascii(`pheromones/network/${v.network}`)).buffer).getUint32(0));
  for (const side of [v.initiator, v.responder]) {
    assert.equal(hex(secp.getPublicKey(h(side.static_secret), true)), side.static_public);
    assert.equal(hex(secp.getPublicKey(h(side.ephemeral_secret), true)), side.ephemeral_public);
    assert.equal(hex(sha256(h(side.static_public))), side.node_id);
  }

  const init = parsePlainFrame(v.handshake_init_frame);
  const resp = parsePlainFrame(v.handshake_response_frame);
  const fin = parsePlainFrame(v.handshake_finish_frame);
  assert.equal(init.kind.case, 'handshakeInit');
  assert.equal(resp.kind.case, 'handshakeResponse');
  assert.equal(fin.kind.case, 'handshakeFinish');
  if (init.kind.case !== 'handshakeInit' || resp.kind.case !== 'handshakeResponse' || fin.kind.case !== 'handshakeFinish') return;
  const iHello = init.kind.value.hello!;
  const rHello = resp.kind.value.hello!;
  for (const [hello, side] of [[iHello, v.initiator], [rHello, v.responder]] as const) {
    assert.equal(hello.protocolVersion, v.protocol_version);
    assert.equal(hello.networkId, v.network_id);
    assert.equal(hex(hello.staticPublicKey), side.static_public);
    assert.equal(hex(hello.ephemeralPublicKey), side.ephemeral_public);
    assert.equal(hex(hello.nonce), side.nonce);
    assert.equal(hello.listenPort, side.listen_port);
    assert.equal(hello.userAgent, side.user_agent);
  }

  const th = sha256(
    cat(
      ascii('pheromones/handshake/v1'),
      u32(v.protocol_version),
      u32(v.network_id),
      h(v.initiator.static_public),
      h(v.initiator.ephemeral_public),
      h(v.initiator.nonce),
      h(v.responder.static_public),
      h(v.responder.ephemeral_public),
      h(v.responder.nonce),
    ),
  );
  assert.equal(hex(th), v.transcript_hash);

  const sharedI = secp.getSharedSecret(h(v.initiator.ephemeral_secret), h(v.responder.ephemeral_public), true).slice(1);
  const sharedR = secp.getSharedSecret(h(v.responder.ephemeral_secret), h(v.initiator.ephemeral_public), true).slice(1);
  assert.equal(hex(sharedI), v.shared_secret);
  assert.equal(hex(sharedR), v.shared_secret);
  assert.equal(hex(hkdf(sha256, sharedI, th, ascii('pheromones/v1 initiator->responder'), 32)), v.key_initiator_to_responder);
  assert.equal(hex(hkdf(sha256, sharedI, th, ascii('pheromones/v1 responder->initiator'), 32)), v.key_responder_to_initiator);

  const rDigest = sha256(cat(ascii('pheromones/sig/responder'), th));
  const iDigest = sha256(cat(ascii('pheromones/sig/initiator'), th));
  assert.equal(hex(secp.sign(rDigest, h(v.responder.static_secret), { prehash: false })), v.responder_signature);
  assert.equal(hex(secp.sign(iDigest, h(v.initiator.static_secret), { prehash: false })), v.initiator_signature);
  assert.equal(hex(resp.kind.value.signature), v.responder_signature);
  assert.equal(hex(fin.kind.value.signature), v.initiator_signature);
  assert.ok(secp.verify(h(v.responder_signature), rDigest, h(v.responder.static_public), { prehash: false }));
  // Role labels: the responder's signature is not valid as the initiator's and vice versa.
  assert.equal(secp.verify(h(v.responder_signature), iDigest, h(v.responder.static_public), { prehash: false }), false);
});

function checkRecords(key: string, records: RecordVector[]): void {
  records.forEach((r, counter) => {
    assert.equal(r.counter, counter);
    const rec = h(r.record);
    const len = new DataView(rec.buffer).getUint32(0);
    assert.equal(rec.length, 4 + len);
    // Reference packing: u32 BE length | body, back to back.
    const plaintext = cat(...r.bodies.flatMap((b) => [u32(h(b).length), h(b)]));
    assert.equal(hex(plaintext), r.plaintext);
    assert.equal(len, plaintext.length + 16);
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(4, BigInt(counter));
    const sealed = gcm(h(key), nonce, rec.subarray(0, 4)).encrypt(plaintext);
    assert.equal(hex(sealed), hex(rec.subarray(4)));
    assert.equal(hex(gcm(h(key), nonce, rec.subarray(0, 4)).decrypt(rec.subarray(4))), r.plaintext);
    for (const b of r.bodies) fromBinary(EnvelopeSchema, h(b));
  });
}

test('noble AES-256-GCM reproduces the sealed records in both directions', () => {
  checkRecords(vectors.key_initiator_to_responder, vectors.records_initiator_to_responder);
  checkRecords(vectors.key_responder_to_initiator, vectors.records_responder_to_initiator);
  assert.equal(vectors.records_initiator_to_responder.length, 2);
  assert.equal(vectors.records_responder_to_initiator.length, 2);
});

test('node:crypto and noble accept each other\'s signatures (low-S compact)', () => {
  const id = identityFromSecret(h(vectors.initiator.static_secret));
  for (let i = 0; i < 32; i++) {
    const message = ascii(`message ${i}`);
    const nodeSig = signMessage(signingKeyOf(id), message);
    assert.equal(nodeSig.length, 64);
    assert.ok(secp.verify(nodeSig, sha256(message), id.publicKey, { prehash: false, lowS: true }), 'noble verifies node');
    const nobleSig = secp.sign(sha256(message), id.privateKey, { prehash: false });
    assert.ok(verifyMessage(id.publicKey, message, nobleSig), 'node verifies noble');
    assert.equal(verifyMessage(id.publicKey, ascii(`other ${i}`), nobleSig), false);
  }
});

test('high-S signatures are rejected', () => {
  const id = identityFromSecret(h(vectors.initiator.static_secret));
  const message = ascii('malleable');
  const sig = secp.sign(sha256(message), id.privateKey, { prehash: false });
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const s = BigInt('0x' + hex(sig.subarray(32)));
  const high = cat(sig.subarray(0, 32), h((n - s).toString(16).padStart(64, '0')));
  assert.ok(secp.verify(high, sha256(message), id.publicKey, { prehash: false, lowS: false }), 'still a valid ECDSA signature');
  assert.equal(verifyMessage(id.publicKey, message, high), false);
});
