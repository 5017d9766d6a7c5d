import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as secp from '@noble/secp256k1';
import { fromHex, toHex } from '../../src/chain/bytes.js';
import { encodeHeader, hashHeader } from '../../src/chain/header.js';
import { merkleRoot } from '../../src/chain/merkle.js';
import { DEVNET, genesisBlock } from '../../src/chain/params.js';
import { publicKeyOf } from '../../src/chain/signature.js';
import { signTransaction, verifyTransactionSignature } from '../../src/chain/transaction.js';

// dist/test/unit -> repo root
const root = fileURLToPath(new URL('../../../', import.meta.url));
const vectors = JSON.parse(readFileSync(`${root}test/vectors/chain-encoding.json`, 'utf8')) as {
  transactions: { privateKey: string; author: string; topic: string; payload: string; timestampMs: number; nonce: string; signingBytes: string; id: string; signature: string }[];
  merkle: { ids: string[]; root: string }[];
  header: { version: number; height: number; prevHash: string; timestampMs: number; merkleRoot: string; target: string; nonce: string; miner: string; headerBytes: string; hash: string };
  devnetGenesis: { headerBytes: string; hash: string };
};

const sha = (hex: string): string => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');
const u64 = (n: bigint | number): string => BigInt(n).toString(16).padStart(16, '0');

test('transaction vectors: signing bytes layout, id, deterministic signature', () => {
  assert.ok(vectors.transactions.length >= 4);
  for (const v of vectors.transactions) {
    const topic = Buffer.from(v.topic, 'utf8').toString('hex');
    // The layout spelled out independently of the encoder.
    const expected =
      Buffer.from('pheromones/tx/v1').toString('hex') +
      v.author +
      u64(v.timestampMs) +
      u64(BigInt(v.nonce)) +
      u32(topic.length / 2) +
      topic +
      u32(v.payload.length / 2) +
      v.payload;
    assert.equal(v.signingBytes, expected);
    assert.equal(v.id, sha(v.signingBytes));
    assert.equal(toHex(publicKeyOf(fromHex(v.privateKey))), v.author);
    const tx = signTransaction(fromHex(v.privateKey), v.topic, fromHex(v.payload), { timestampMs: v.timestampMs, nonce: BigInt(v.nonce) });
    assert.equal(toHex(tx.signingBytes), v.signingBytes);
    assert.equal(tx.idHex, v.id);
    assert.equal(toHex(tx.signature), v.signature);
    // Two implementations agree: noble (pure JS) and OpenSSL (verifyTransactionSignature).
    assert.equal(secp.verify(fromHex(v.signature), fromHex(v.id), fromHex(v.author), { prehash: false }), true);
    assert.equal(verifyTransactionSignature(tx), true);
  }
});

test('merkle vectors', () => {
  for (const v of vectors.merkle) assert.equal(toHex(merkleRoot(v.ids.map(fromHex))), v.root);
  const [a, b] = vectors.merkle[4]!.ids;
  assert.equal(vectors.merkle[2]!.root, sha(a! + b!));
});

test('header vector: 157 bytes in the documented order, hash is sha256 of them', () => {
  const h = vectors.header;
  const expected = u32(h.version) + u64(h.height) + h.prevHash + u64(h.timestampMs) + h.merkleRoot + h.target + u64(BigInt(h.nonce)) + h.miner;
  assert.equal(h.headerBytes, expected);
  assert.equal(h.headerBytes.length, 157 * 2);
  assert.equal(h.hash, sha(h.headerBytes));
  assert.equal(h.merkleRoot, vectors.merkle[4]!.root);
  const header = {
    version: h.version,
    height: h.height,
    prevHash: fromHex(h.prevHash),
    timestampMs: h.timestampMs,
    merkleRoot: fromHex(h.merkleRoot),
    target: fromHex(h.target),
    nonce: BigInt(h.nonce),
    miner: fromHex(h.miner),
  };
  assert.equal(toHex(encodeHeader(header)), h.headerBytes);
  assert.equal(toHex(hashHeader(header)), h.hash);
});

test('devnet genesis is fixed', () => {
  const g = genesisBlock(DEVNET);
  assert.equal(toHex(encodeHeader(g.header)), vectors.devnetGenesis.headerBytes);
  assert.equal(g.hashHex, vectors.devnetGenesis.hash);
});
