import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBlock, decodeTransaction, encodeBlock, encodeTransaction } from '../../src/chain/codec.js';
import { PheromonesError } from '../../src/errors.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { TransactionSchema } from '../../src/gen/pheromones/chain/v1/chain_pb.js';
import { testParams } from '../../src/chain/params.js';
import { makeTransaction, signTransaction, checkTransactionShape, verifyTransactionSignature } from '../../src/chain/transaction.js';
import { InlineVerifier, VerifierPool } from '../../src/chain/verifier.js';
import { bigIntToBytes, bytesToBigInt } from '../../src/chain/bytes.js';
import { buildBlock, openTestChain, testKey, tx } from './chain-helpers.js';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

test('a signed transaction verifies; any tampering breaks it', () => {
  const t = signTransaction(testKey(1), 'topic', new TextEncoder().encode('payload'));
  assert.equal(verifyTransactionSignature(t), true);
  const variants = [
    makeTransaction({ ...t, topic: 'topiC' }),
    makeTransaction({ ...t, payload: new TextEncoder().encode('payloaD') }),
    makeTransaction({ ...t, timestampMs: t.timestampMs + 1 }),
    makeTransaction({ ...t, nonce: t.nonce + 1n }),
    makeTransaction({ ...t, author: signTransaction(testKey(2), 'x', new Uint8Array()).author }),
    makeTransaction({ ...t, signature: t.signature.map((b, i) => (i === 63 ? b ^ 1 : b)) }),
    makeTransaction({ ...t, author: new Uint8Array(33).fill(2) }), // not a curve point
  ];
  for (const v of variants) assert.equal(verifyTransactionSignature(v), false);
  // The high-S twin of a valid signature is valid ECDSA but rejected (malleability).
  const s = bytesToBigInt(t.signature.subarray(32));
  const highS = new Uint8Array([...t.signature.subarray(0, 32), ...bigIntToBytes(N - s, 32)]);
  assert.equal(verifyTransactionSignature(makeTransaction({ ...t, signature: highS })), false);
  // Same content, different nonce: different id.
  const a = signTransaction(testKey(1), 'same', new Uint8Array(), { timestampMs: 1, nonce: 1n });
  const b = signTransaction(testKey(1), 'same', new Uint8Array(), { timestampMs: 1, nonce: 2n });
  assert.notEqual(a.idHex, b.idHex);
});

test('shape checks', () => {
  const p = testParams({ maxPayloadBytes: 10, maxTopicBytes: 4 });
  assert.equal(checkTransactionShape(signTransaction(testKey(1), 'abcd', new Uint8Array(10)), p), undefined);
  assert.match(checkTransactionShape(signTransaction(testKey(1), 'abcde', new Uint8Array(1)), p)!, /topic longer/);
  assert.match(checkTransactionShape(signTransaction(testKey(1), '', new Uint8Array(1)), p)!, /topic is empty/);
  assert.match(checkTransactionShape(signTransaction(testKey(1), 'a', new Uint8Array(11)), p)!, /payload larger/);
});

test('protobuf round trip, and hostile input is refused with a typed error', async () => {
  const t = tx();
  const back = decodeTransaction(encodeTransaction(t), 1 << 20);
  assert.equal(back.idHex, t.idHex);
  assert.deepEqual(back.signature, t.signature);
  assert.throws(() => decodeTransaction(encodeTransaction(t), 10), PheromonesError);
  assert.throws(() => decodeTransaction(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), 1 << 20), PheromonesError);
  const shortKey = toBinary(TransactionSchema, create(TransactionSchema, { author: new Uint8Array(5), signature: new Uint8Array(64), topic: 'x' }));
  assert.throws(() => decodeTransaction(shortKey, 1 << 20), /author must be 33 bytes/);
  const tc = await openTestChain();
  try {
    const block = buildBlock(tc.chain, tc.chain.head, [t, tx(2)]);
    const decoded = decodeBlock(encodeBlock(block), 1 << 20);
    assert.equal(decoded.hashHex, block.hashHex);
    assert.deepEqual(decoded.txs.map((x) => x.idHex), block.txs.map((x) => x.idHex));
    assert.throws(() => decodeBlock(Uint8Array.of(0x12, 0x00), 1 << 20), /without header/);
  } finally {
    await tc.close();
  }
});

test('the verifier pool finds the first bad signature, in worker threads', async () => {
  const pool = new VerifierPool({ threads: 2, inlineBelow: 1 });
  try {
    const txs = Array.from({ length: 12 }, (_, i) => tx(1 + (i % 3)));
    assert.equal(await pool.verify(txs), -1);
    const forged = makeTransaction({ ...txs[7]!, signature: txs[7]!.signature.map((b, i) => (i === 40 ? b ^ 1 : b)) });
    const fresh = Array.from({ length: 12 }, () => tx());
    fresh[9] = makeTransaction({ ...fresh[9]!, signature: fresh[9]!.signature.map((b, i) => (i === 3 ? b ^ 1 : b)) });
    fresh[4] = forged;
    assert.equal(await pool.verify(fresh), 4);
    // A verified transaction is cached by (id, signature), not by id alone.
    assert.equal(await pool.verify([txs[7]!]), -1);
    assert.equal(await pool.verify([forged]), 0);
  } finally {
    await pool.close();
  }
  const inline = new InlineVerifier();
  assert.equal(await inline.verify([tx(), tx()]), -1);
});

test('a block at the size limits fits the encoded-size bound', async () => {
  const { maxEncodedBlockBytes } = await import('../../src/chain/codec.js');
  const params = testParams({ maxBlockTxs: 50, maxBlockBytes: 50 * 400 });
  const tc = await openTestChain(params);
  try {
    // 50 transactions with tiny payloads: the protobuf overhead per transaction is largest relative to size.
    const txs = Array.from({ length: 50 }, () => signTransaction(testKey(1), 'a', new Uint8Array(0)));
    const block = buildBlock(tc.chain, tc.chain.head, txs);
    const encoded = encodeBlock(block);
    assert.ok(encoded.length <= maxEncodedBlockBytes(params), `${encoded.length} > bound`);
    assert.equal(decodeBlock(encoded, maxEncodedBlockBytes(params)).hashHex, block.hashHex);
  } finally {
    await tc.close();
  }
});
