import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPublicKey } from '@noble/secp256k1';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  createKey,
  exportKey,
  findKey,
  importKey,
  listKeys,
  parseSecretKeyHex,
  unlockKey,
  type KeyFile,
} from '../../src/crypto/keystore.js';
import { WrongPassphraseError, CorruptKeyFileError } from '../../src/crypto/keystore-errors.js';
import { addressFromPublicKey } from '../../src/crypto/address.js';
import { PheromonesError } from '../../src/errors.js';

// Low scrypt cost keeps the file fast; the format and code path are the same as N = 2^17.
const N = 2 ** 4;
let root: string;
let n = 0;
const freshDir = (): string => join(root, `ks${n++}`);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pheromones-keystore-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const isKind = (kind: string, re?: RegExp) => (err: unknown): boolean =>
  err instanceof PheromonesError && err.kind === kind && (re === undefined || re.test(err.message));

test('create, list, find, unlock round trip', async () => {
  const dir = freshDir();
  const info = await createKey(dir, 'alice', 'correct horse', { scryptN: N });
  assert.equal(info.name, 'alice');
  assert.match(info.address, /^phm1[02-9ac-hj-np-z]{38}$/);
  assert.equal(addressFromPublicKey(info.publicKey), info.address);
  assert.equal(info.insecure, false);

  const listed = await listKeys(dir);
  assert.deepEqual(listed.map((k) => [k.name, k.address]), [['alice', info.address]]);

  assert.equal((await findKey(dir, 'alice')).address, info.address);
  assert.equal((await findKey(dir, info.address)).name, 'alice');
  assert.equal((await findKey(dir, info.address.toUpperCase())).name, 'alice');

  const unlocked = await unlockKey(dir, 'alice', 'correct horse');
  assert.equal(unlocked.address, info.address);
  assert.deepEqual(getPublicKey(unlocked.secretKey, true), info.publicKey);
  const byAddress = await exportKey(dir, info.address, 'correct horse');
  assert.deepEqual(byAddress.secretKey, unlocked.secretKey);
});

test('a wrong passphrase fails with WrongPassphraseError, never a key', async () => {
  const dir = freshDir();
  await createKey(dir, 'bob', 'right', { scryptN: N });
  await assert.rejects(unlockKey(dir, 'bob', 'wrong'), (err: unknown) => {
    assert.ok(err instanceof WrongPassphraseError);
    assert.equal(err.kind, 'invalid-argument');
    assert.equal(err.message, 'wrong passphrase for key bob');
    return true;
  });
  await assert.rejects(unlockKey(dir, 'bob', ''), WrongPassphraseError);
});

test('the key file never holds the secret in the clear, and is private', async () => {
  const dir = freshDir();
  const secret = parseSecretKeyHex('0x' + 'ab'.repeat(31) + '01');
  await importKey(dir, 'carol', secret, 'pw', { scryptN: N });
  const path = join(dir, 'carol.json');
  const raw = await readFile(path);
  const text = raw.toString('utf8');
  const secretHex = bytesToHex(secret);
  assert.equal(text.toLowerCase().includes(secretHex), false);
  assert.equal(text.includes(Buffer.from(secret).toString('base64')), false);
  assert.equal(raw.includes(Buffer.from(secret)), false);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await stat(dir)).mode & 0o077, 0, 'keystore dir is not group/world accessible');
  // No temporary file left behind.
  assert.deepEqual(await readdir(dir), ['carol.json']);

  const file = JSON.parse(text) as KeyFile;
  assert.equal(file.version, 1);
  assert.equal(file.crypto.kdf, 'scrypt');
  assert.equal(file.crypto.cipher, 'aes-256-gcm');
  assert.equal(file.crypto.kdfparams.n, N);
  assert.equal(file.crypto.kdfparams.salt.length, 64);
  assert.equal(file.crypto.cipherparams.nonce.length, 24);
  assert.equal(file.crypto.ciphertext.length, 96);
  assert.equal(file.insecure, undefined);
  assert.deepEqual((await unlockKey(dir, 'carol', 'pw')).secretKey, secret);
});

test('two keys sealed under one passphrase share no salt, nonce or ciphertext', async () => {
  const dir = freshDir();
  const secret = parseSecretKeyHex('11'.repeat(32));
  await importKey(dir, 'one', secret, 'pw', { scryptN: N });
  const other = freshDir();
  await importKey(other, 'one', secret, 'pw', { scryptN: N });
  const a = JSON.parse(await readFile(join(dir, 'one.json'), 'utf8')) as KeyFile;
  const b = JSON.parse(await readFile(join(other, 'one.json'), 'utf8')) as KeyFile;
  assert.notEqual(a.crypto.kdfparams.salt, b.crypto.kdfparams.salt);
  assert.notEqual(a.crypto.cipherparams.nonce, b.crypto.cipherparams.nonce);
  assert.notEqual(a.crypto.ciphertext, b.crypto.ciphertext);
});

test('insecure keys need the explicit option and still use the sealed format', async () => {
  const dir = freshDir();
  await assert.rejects(createKey(dir, 'x', '', { scryptN: N }), isKind('invalid-argument', /insecure-no-password/));
  await assert.rejects(createKey(dir, 'x', 'pw', { scryptN: N, insecure: true }), isKind('invalid-argument'));
  const info = await createKey(dir, 'x', '', { scryptN: N, insecure: true });
  assert.equal(info.insecure, true);
  const file = JSON.parse(await readFile(join(dir, 'x.json'), 'utf8')) as KeyFile;
  assert.equal(file.insecure, true);
  assert.equal(file.crypto.ciphertext.length, 96);
  assert.equal((await unlockKey(dir, 'x', '')).address, info.address);
  await assert.rejects(unlockKey(dir, 'x', 'guess'), WrongPassphraseError);
});

test('names: validated, never overwritten, not found is clear', async () => {
  const dir = freshDir();
  for (const bad of ['', 'a b', '../evil', 'x'.repeat(65), 'é', 'a.json']) {
    await assert.rejects(createKey(dir, bad, 'pw', { scryptN: N }), isKind('invalid-argument', /invalid key name/), bad);
  }
  const first = await createKey(dir, 'dup', 'pw', { scryptN: N });
  const before = await readFile(join(dir, 'dup.json'), 'utf8');
  await assert.rejects(createKey(dir, 'dup', 'pw2', { scryptN: N }), isKind('already-exists', /'dup' already exists/));
  assert.equal(await readFile(join(dir, 'dup.json'), 'utf8'), before);
  assert.equal((await unlockKey(dir, 'dup', 'pw')).address, first.address);

  await assert.rejects(findKey(dir, 'nobody'), isKind('not-found', /no key named 'nobody'/));
  await assert.rejects(unlockKey(dir, 'nobody', 'pw'), isKind('not-found'));
  await assert.rejects(findKey(dir, addressFromPublicKey(getPublicKey(hexToBytes('22'.repeat(32)), true))), isKind('not-found', /no key with address/));
  // A mistyped address is reported as a bad address, not as an unknown name.
  const typo = first.address.slice(0, -1) + (first.address.endsWith('q') ? 'p' : 'q');
  await assert.rejects(findKey(dir, typo), isKind('invalid-argument', /invalid address/));
  assert.deepEqual(await listKeys(join(root, 'does-not-exist')), []);
});

test('concurrent creates of one name: exactly one wins', async () => {
  const dir = freshDir();
  const results = await Promise.allSettled([1, 2, 3, 4].map(() => createKey(dir, 'race', 'pw', { scryptN: N })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'rejected') assert.ok(isKind('already-exists')(r.reason));
  assert.deepEqual(await readdir(dir), ['race.json']);
});

test('importing a key the keystore already holds is refused', async () => {
  const dir = freshDir();
  const secret = parseSecretKeyHex('33'.repeat(32));
  await importKey(dir, 'first', secret, 'pw', { scryptN: N });
  await assert.rejects(importKey(dir, 'second', secret, 'pw', { scryptN: N }), isKind('already-exists', /already in the keystore as 'first'/));
});

test('secret key parsing', () => {
  assert.throws(() => parseSecretKeyHex('abc'), isKind('invalid-argument', /64 hexadecimal/));
  assert.throws(() => parseSecretKeyHex('00'.repeat(32)), isKind('invalid-argument', /not a valid secp256k1 scalar/));
  assert.throws(() => parseSecretKeyHex('ff'.repeat(32)), isKind('invalid-argument', /not a valid secp256k1 scalar/));
  assert.equal(bytesToHex(parseSecretKeyHex(`  0X${'AB'.repeat(32)}\n`)), 'ab'.repeat(32));
});

test('doctored files are rejected before any expensive work', async () => {
  const dir = freshDir();
  const info = await createKey(dir, 'victim', 'pw', { scryptN: N });
  const path = join(dir, 'victim.json');
  const original = JSON.parse(await readFile(path, 'utf8')) as KeyFile;
  const other = addressFromPublicKey(getPublicKey(hexToBytes('44'.repeat(32)), true));

  const cases: [string, (f: KeyFile) => unknown][] = [
    ['huge scrypt N', (f) => ({ ...f, crypto: { ...f.crypto, kdfparams: { ...f.crypto.kdfparams, n: 2 ** 30 } } })],
    ['N not a power of two', (f) => ({ ...f, crypto: { ...f.crypto, kdfparams: { ...f.crypto.kdfparams, n: 1000 } } })],
    ['short nonce', (f) => ({ ...f, crypto: { ...f.crypto, cipherparams: { nonce: '00' } } })],
    ['address of another key', (f) => ({ ...f, address: other })],
    ['unknown version', (f) => ({ ...f, version: 2 })],
    ['renamed file', (f) => ({ ...f, name: 'someone-else' })],
    ['ciphertext truncated', (f) => ({ ...f, crypto: { ...f.crypto, ciphertext: f.crypto.ciphertext.slice(0, 64) } })],
    ['not an object', () => [1, 2, 3]],
  ];
  for (const [what, doctor] of cases) {
    await writeFile(path, JSON.stringify(doctor(original)));
    await assert.rejects(unlockKey(dir, 'victim', 'pw'), CorruptKeyFileError, what);
    await assert.rejects(listKeys(dir), CorruptKeyFileError, what);
  }
  await writeFile(path, 'not json');
  await assert.rejects(findKey(dir, 'victim'), isKind('failed-precondition', /not a valid pheromones key: not JSON/));

  // A flipped ciphertext bit reads as a wrong passphrase (GCM cannot tell them apart), never as a different key.
  const flipped = original.crypto.ciphertext.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  await writeFile(path, JSON.stringify({ ...original, crypto: { ...original.crypto, ciphertext: flipped } }));
  await assert.rejects(unlockKey(dir, 'victim', 'pw'), WrongPassphraseError);

  await writeFile(path, JSON.stringify(original));
  assert.equal((await unlockKey(dir, 'victim', 'pw')).address, info.address);
});

test('the documented version-1 vector file unlocks to its secret', async () => {
  const vector = JSON.parse(await readFile(new URL('../../../test/vectors/keystore-v1.json', import.meta.url), 'utf8')) as {
    passphrase: string;
    secretKey: string;
    file: KeyFile;
  };
  const dir = freshDir();
  await mkdir(dir);
  await writeFile(join(dir, `${vector.file.name}.json`), JSON.stringify(vector.file));
  const key = await unlockKey(dir, vector.file.address, vector.passphrase);
  assert.equal(bytesToHex(key.secretKey), vector.secretKey);
  assert.equal(key.name, vector.file.name);
  await assert.rejects(unlockKey(dir, vector.file.name, `${vector.passphrase}!`), WrongPassphraseError);
});
