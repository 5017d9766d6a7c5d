import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PheromonesError } from '../../src/errors.js';
import {
  MAX_RECORDS_PER_DIRECTION,
  RecordAuthError,
  RecordLimitError,
  RecordOpener,
  RecordSealer,
  ecdhSharedX,
  generateEphemeralKey,
  generateIdentity,
  identityFromSecret,
  isValidPublicKey,
  loadOrCreateIdentity,
  networkIdFor,
  sha256,
} from '../../src/crypto/index.js';
import { packInnerFrames, recordHeader, unpackInnerFrames } from '../../src/wire/index.js';

test('sealed records round-trip in order and any changed byte fails authentication', () => {
  const key = randomBytes(32);
  const sealer = new RecordSealer(key);
  const opener = new RecordOpener(key);
  const records = Array.from({ length: 5 }, (_, i) => {
    const pt = packInnerFrames([Buffer.alloc(100 * i, i), Buffer.from(`frame ${i}`)]);
    const header = recordHeader(pt.length);
    const [ct, tag] = sealer.seal(header, pt);
    return { pt, header, ct, tag };
  });
  for (const r of records) assert.deepEqual(opener.open(r.header, r.ct, r.tag), r.pt);
  assert.equal(unpackInnerFrames(records[4]!.pt).length, 2);

  const fresh = (): RecordOpener => new RecordOpener(key);
  const r0 = records[0]!;
  // Replay or reorder: record 1 opened as record 0.
  assert.throws(() => fresh().open(records[1]!.header, records[1]!.ct, records[1]!.tag), RecordAuthError);
  const badHeader = Buffer.from(r0.header);
  badHeader[3]! ^= 1;
  assert.throws(() => fresh().open(badHeader, r0.ct, r0.tag), RecordAuthError);
  const badCt = Buffer.from(r0.ct);
  badCt[0]! ^= 1;
  assert.throws(() => fresh().open(r0.header, badCt, r0.tag), RecordAuthError);
  const badTag = Buffer.from(r0.tag);
  badTag[15]! ^= 1;
  assert.throws(() => fresh().open(r0.header, r0.ct, badTag), (e: unknown) => e instanceof RecordAuthError && e.kind === 'protocol-violation');
});

test('a direction stops after 2^32 records, and the nonce carries the counter big-endian', () => {
  const key = randomBytes(32);
  const last = 2 ** 32 - 1;
  const sealer = new RecordSealer(key, last);
  const pt = packInnerFrames([Buffer.from('last')]);
  const header = recordHeader(pt.length);
  const [ct, tag] = sealer.seal(header, pt);
  assert.deepEqual(new RecordOpener(key, last).open(header, ct, tag), pt);
  assert.throws(() => new RecordOpener(key, last - 1).open(header, ct, tag), RecordAuthError);
  assert.throws(() => sealer.seal(header, pt), (e: unknown) => e instanceof RecordLimitError && e.kind === 'resource-exhausted');
  assert.equal(MAX_RECORDS_PER_DIRECTION, 2 ** 32);
});

test('ECDH agrees on both sides and rejects keys off the curve', () => {
  const a = generateEphemeralKey();
  const b = generateEphemeralKey();
  assert.equal(a.publicKey.length, 33);
  assert.deepEqual(ecdhSharedX(a, b.publicKey), ecdhSharedX(b, a.publicKey));
  assert.equal(ecdhSharedX(a, b.publicKey).length, 32);
  assert.equal(isValidPublicKey(new Uint8Array(33)), false);
  assert.equal(isValidPublicKey(Buffer.concat([Buffer.from([2]), Buffer.alloc(32, 0xff)])), false);
  assert.equal(isValidPublicKey(b.publicKey.subarray(0, 32)), false);
  assert.equal(isValidPublicKey(b.publicKey), true);
});

test('node id is sha256 of the compressed public key; network id is the first 4 bytes of its hash', () => {
  const id = generateIdentity();
  assert.equal(id.publicKey.length, 33);
  assert.equal(id.nodeIdHex, sha256(id.publicKey).toString('hex'));
  assert.deepEqual(identityFromSecret(id.privateKey).publicKey, id.publicKey);
  assert.equal(networkIdFor('devnet'), sha256(Buffer.from('pheromones/network/devnet')).readUInt32BE(0));
  assert.notEqual(networkIdFor('devnet'), networkIdFor('testnet'));
  assert.throws(() => identityFromSecret(new Uint8Array(32)), (e: unknown) => e instanceof PheromonesError && e.kind === 'invalid-argument');
});

test('loadOrCreateIdentity creates node.key once (0600) and reuses it; a corrupt file is an error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pheromones-id-'));
  try {
    const first = await loadOrCreateIdentity(join(dir, 'data'));
    const again = await loadOrCreateIdentity(join(dir, 'data'));
    assert.equal(again.nodeIdHex, first.nodeIdHex);
    const file = join(dir, 'data', 'node.key');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), /^[0-9a-f]{64}\n$/);
    await writeFile(file, 'not a key\n');
    await assert.rejects(loadOrCreateIdentity(join(dir, 'data')), (e: unknown) => {
      assert.ok(e instanceof PheromonesError);
      assert.equal(e.kind, 'failed-precondition');
      assert.match(e.message, /corrupt/);
      return true;
    });
    assert.equal(await readFile(file, 'utf8'), 'not a key\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
