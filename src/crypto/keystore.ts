import { constants as fsConstants } from 'node:fs';
import { chmod, copyFile, link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gcm } from '@noble/ciphers/aes.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { PheromonesError } from '../errors.js';
import { ADDRESS_HRP, addressFromPublicKey, normalizeAddress } from './address.js';
import { CorruptKeyFileError, WrongPassphraseError } from './keystore-errors.js';
import { isValidSecretKey, publicKeyOf, PUBLIC_KEY_BYTES, SECRET_KEY_BYTES } from './secp256k1.js';

/**
 * The client-side keystore: one JSON file per key, the secret sealed with
 * AES-256-GCM under a scrypt-derived key (geth's keystore v3 is the model;
 * docs/keys.md has the exact format). Listing and lookup read only the public
 * part; the secret exists in the clear only in the memory of the process
 * that unlocked it.
 */

export const KEYSTORE_VERSION = 1;
/** scrypt cost for new keys: about 0.6 s and 128 MiB on a laptop, per unlock. */
export const DEFAULT_SCRYPT_N = 2 ** 17;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
const DKLEN = 32;
const SALT_LENGTH = 32;
const NONCE_LENGTH = 12;
const SECRET_LENGTH = SECRET_KEY_BYTES;
const GCM_TAG_LENGTH = 16;
const PUBLIC_KEY_LENGTH = PUBLIC_KEY_BYTES;

// Bounds on parameters read back from disk, so a doctored file cannot make an
// unlock allocate gigabytes or spin for minutes.
const MAX_SCRYPT_N = 2 ** 20;
const MAX_SCRYPT_R = 16;
const MAX_SCRYPT_P = 4;
const MAX_SCRYPT_MEMORY = 2 ** 30;
const MIN_SALT_LENGTH = 16;
const MAX_SALT_LENGTH = 64;
const MAX_KEY_FILE_BYTES = 64 * 1024;

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const KEY_FILE_SUFFIX = '.json';

export interface KeyFile {
  version: 1;
  name: string;
  address: string;
  /** 33-byte compressed public key, hex. */
  publicKey: string;
  /** Sealed with an empty passphrase (`--insecure-no-password`). */
  insecure?: true;
  crypto: {
    kdf: 'scrypt';
    kdfparams: { n: number; r: number; p: number; dklen: 32; salt: string };
    cipher: 'aes-256-gcm';
    cipherparams: { nonce: string };
    /** AES-256-GCM output: 32 sealed secret bytes followed by the 16-byte tag, hex. */
    ciphertext: string;
  };
  /** ISO 8601. */
  createdAt: string;
}

/** What can be known about a key without its passphrase. */
export interface KeyInfo {
  name: string;
  address: string;
  publicKey: Uint8Array;
  createdAt: string;
  insecure: boolean;
  /** Absolute or dir-relative path of the key file. */
  path: string;
}

export interface UnlockedKey {
  name: string;
  address: string;
  publicKey: Uint8Array;
  /** 32-byte secp256k1 secret scalar. Keep it in this process. */
  secretKey: Uint8Array;
}

export interface SealOptions {
  /** scrypt N for the new file (power of two). Tests use a small one; the default is DEFAULT_SCRYPT_N. */
  scryptN?: number;
  /** Required, and only allowed, with an empty passphrase: the file is marked `insecure`. */
  insecure?: boolean;
}

/** `~/.pheromones/keys`: where keys live when neither --keystore nor PHEROMONES_KEYSTORE says otherwise. */
export function defaultKeystoreDir(): string {
  return join(homedir(), '.pheromones', 'keys');
}

export function validateKeyName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new PheromonesError(
      'invalid-argument',
      `invalid key name '${name.length > 80 ? `${name.slice(0, 80)}...` : name}': use 1 to 64 letters, digits, '_' or '-'`,
    );
  }
}

/** Parses a secret key typed or stored as 64 hex characters (an optional 0x prefix and surrounding whitespace are allowed). */
export function parseSecretKeyHex(text: string): Uint8Array {
  const trimmed = text.trim();
  const hex = trimmed.startsWith('0x') || trimmed.startsWith('0X') ? trimmed.slice(2) : trimmed;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new PheromonesError('invalid-argument', 'a secret key is 64 hexadecimal characters (32 bytes)');
  }
  const secret = hexToBytes(hex.toLowerCase());
  if (!isValidSecretKey(secret)) {
    throw new PheromonesError('invalid-argument', 'the secret key is not a valid secp256k1 scalar (zero or not below the curve order)');
  }
  return secret;
}

/** Generates a new key pair and stores it under `name`. */
export async function createKey(dir: string, name: string, passphrase: string, opts: SealOptions = {}): Promise<KeyInfo> {
  validateKeyName(name);
  checkPassphrasePolicy(passphrase, opts);
  const secretKey = randomSecretKey();
  try {
    return await storeKey(dir, name, secretKey, passphrase, opts);
  } finally {
    secretKey.fill(0);
  }
}

/** Stores an existing secret key under `name`. Refuses a key the keystore already holds under another name. */
export async function importKey(
  dir: string,
  name: string,
  secret: Uint8Array,
  passphrase: string,
  opts: SealOptions = {},
): Promise<KeyInfo> {
  validateKeyName(name);
  checkPassphrasePolicy(passphrase, opts);
  if (secret.length !== SECRET_LENGTH || !isValidSecretKey(secret)) {
    throw new PheromonesError('invalid-argument', 'the secret key is not a valid 32-byte secp256k1 scalar');
  }
  const address = addressFromPublicKey(publicKeyOf(secret));
  const existing = (await listKeys(dir)).find((k) => k.address === address);
  if (existing) {
    throw new PheromonesError('already-exists', `this key is already in the keystore as '${existing.name}' (${address})`);
  }
  return storeKey(dir, name, secret, passphrase, opts);
}

/** Every key in the keystore, sorted by name. Reads only the public part; a missing directory is an empty keystore. */
export async function listKeys(dir: string): Promise<KeyInfo[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw new PheromonesError('unavailable', `cannot read keystore ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const names = entries
    .filter((f) => f.endsWith(KEY_FILE_SUFFIX) && !f.startsWith('.'))
    .map((f) => f.slice(0, -KEY_FILE_SUFFIX.length))
    .filter((n) => NAME_PATTERN.test(n))
    .sort();
  const keys: KeyInfo[] = [];
  for (const name of names) keys.push(toInfo(await readKeyFile(dir, name)));
  return keys;
}

/** The key stored under a name, or holding an address (either spelling case). */
export async function findKey(dir: string, nameOrAddress: string): Promise<KeyInfo> {
  return toInfo(await locate(dir, nameOrAddress));
}

/** Decrypts a key. A wrong passphrase throws WrongPassphraseError, never a wrong key. */
export async function unlockKey(dir: string, nameOrAddress: string, passphrase: string): Promise<UnlockedKey> {
  const loaded = await locate(dir, nameOrAddress);
  const { file, path } = loaded;
  const { kdfparams } = file.crypto;
  const derived = await deriveKey(passphrase, hexToBytes(kdfparams.salt), kdfparams.n, kdfparams.r, kdfparams.p);
  let secretKey: Uint8Array;
  try {
    secretKey = gcm(derived, hexToBytes(file.crypto.cipherparams.nonce), utf8ToBytes(file.address)).decrypt(
      hexToBytes(file.crypto.ciphertext),
    );
  } catch (err) {
    throw new WrongPassphraseError(file.name, { cause: err });
  } finally {
    derived.fill(0);
  }
  const publicKey = hexToBytes(file.publicKey);
  // The tag proves the passphrase; this proves the clear-text fields were not swapped for another key's.
  if (!isValidSecretKey(secretKey) || bytesToHex(publicKeyOf(secretKey)) !== file.publicKey) {
    secretKey.fill(0);
    throw new CorruptKeyFileError(path, 'the sealed secret does not match the stored public key');
  }
  return { name: file.name, address: file.address, publicKey, secretKey };
}

/** Exporting is unlocking: the caller decides how (and whether) to show the secret. */
export const exportKey = unlockKey;

/** True when a key of this name exists (it says nothing about whether the file is valid). */
export async function keyExists(dir: string, name: string): Promise<boolean> {
  validateKeyName(name);
  try {
    await stat(keyPath(dir, name));
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

function randomSecretKey(): Uint8Array {
  // Rejection sampling: all but ~2^-128 of 32-byte strings are valid scalars, so this loops once.
  for (;;) {
    const secret = randomBytes(SECRET_LENGTH);
    if (isValidSecretKey(secret)) return secret;
  }
}

function checkPassphrasePolicy(passphrase: string, opts: SealOptions): void {
  if (passphrase === '' && !opts.insecure) {
    throw new PheromonesError('invalid-argument', 'empty passphrase: choose one, or store the key unprotected explicitly (--insecure-no-password)');
  }
  if (passphrase !== '' && opts.insecure) {
    throw new PheromonesError('invalid-argument', 'an insecure key is stored with an empty passphrase; drop the passphrase or the insecure option');
  }
}

async function storeKey(dir: string, name: string, secretKey: Uint8Array, passphrase: string, opts: SealOptions): Promise<KeyInfo> {
  const n = opts.scryptN ?? DEFAULT_SCRYPT_N;
  checkScryptParams(n, SCRYPT_R, SCRYPT_P, (why) => new PheromonesError('invalid-argument', `scrypt N: ${why}`));
  const path = keyPath(dir, name);
  // Fail before the slow KDF when the name is taken; the exclusive link below still guards the race.
  if (await keyExists(dir, name)) throw nameTaken(name, path);

  const publicKey = publicKeyOf(secretKey);
  const address = addressFromPublicKey(publicKey);
  const salt = randomBytes(SALT_LENGTH);
  const nonce = randomBytes(NONCE_LENGTH);
  const derived = await deriveKey(passphrase, salt, n, SCRYPT_R, SCRYPT_P);
  let ciphertext: Uint8Array;
  try {
    ciphertext = gcm(derived, nonce, utf8ToBytes(address)).encrypt(secretKey);
  } finally {
    derived.fill(0);
  }
  const file: KeyFile = {
    version: KEYSTORE_VERSION,
    name,
    address,
    publicKey: bytesToHex(publicKey),
    ...(opts.insecure ? { insecure: true as const } : {}),
    crypto: {
      kdf: 'scrypt',
      kdfparams: { n, r: SCRYPT_R, p: SCRYPT_P, dklen: DKLEN, salt: bytesToHex(salt) },
      cipher: 'aes-256-gcm',
      cipherparams: { nonce: bytesToHex(nonce) },
      ciphertext: bytesToHex(ciphertext),
    },
    createdAt: new Date().toISOString(),
  };
  await writeExclusive(dir, name, path, `${JSON.stringify(file, null, 2)}\n`);
  return toInfo({ file, path });
}

/**
 * Writes the whole file under a temporary name, then links it into place:
 * a reader never sees half a key, and link() fails if the name was taken in
 * the meantime, so an existing key is never overwritten.
 */
async function writeExclusive(dir: string, name: string, path: string, content: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${name}.${bytesToHex(randomBytes(6))}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    try {
      await handle.chmod(0o600); // the umask may have narrowed it further, never widened; make it exact
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tmp, path);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') throw nameTaken(name, path);
      // Filesystems without hard links: an exclusive copy keeps the no-overwrite promise.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') throw err;
      try {
        await copyFile(tmp, path, fsConstants.COPYFILE_EXCL);
      } catch (copyErr) {
        if (errnoCode(copyErr) === 'EEXIST') throw nameTaken(name, path);
        throw copyErr;
      }
      await chmod(path, 0o600);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function locate(dir: string, nameOrAddress: string): Promise<{ file: KeyFile; path: string }> {
  if (NAME_PATTERN.test(nameOrAddress) && (await keyExists(dir, nameOrAddress))) {
    return readKeyFile(dir, nameOrAddress);
  }
  if (nameOrAddress.toLowerCase().startsWith(`${ADDRESS_HRP}1`)) {
    // Looks like an address: a typo should be reported as one, not as "no such name".
    const address = normalizeAddress(nameOrAddress);
    const match = (await listKeys(dir)).find((k) => k.address === address);
    if (match) return readKeyFile(dir, match.name);
    throw new PheromonesError('not-found', `no key with address ${address} in keystore ${dir}`);
  }
  if (!NAME_PATTERN.test(nameOrAddress)) validateKeyName(nameOrAddress);
  throw new PheromonesError('not-found', `no key named '${nameOrAddress}' in keystore ${dir} (see 'pheromones keys list')`);
}

async function readKeyFile(dir: string, name: string): Promise<{ file: KeyFile; path: string }> {
  const path = keyPath(dir, name);
  let raw: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_KEY_FILE_BYTES) throw new CorruptKeyFileError(path, `file is ${size} bytes, a key file is under ${MAX_KEY_FILE_BYTES}`);
      raw = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof PheromonesError) throw err;
    if (errnoCode(err) === 'ENOENT') throw new PheromonesError('not-found', `no key named '${name}' in keystore ${dir}`);
    throw new PheromonesError('unavailable', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return { file: parseKeyFile(raw.toString('utf8'), name, path), path };
}

/** Checks every field of a key file read from disk; the result can be trusted to have the documented shape. */
function parseKeyFile(text: string, expectedName: string, path: string): KeyFile {
  const bad = (why: string, cause?: unknown): CorruptKeyFileError => new CorruptKeyFileError(path, why, { cause });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad('not JSON', err);
  }
  const o = asRecord(json, 'the file', bad);
  if (o.version !== KEYSTORE_VERSION) throw bad(`unsupported version ${String(o.version)} (this build reads version ${KEYSTORE_VERSION})`);
  if (o.name !== expectedName) throw bad(`it names itself '${String(o.name)}' but is stored as '${expectedName}'`);
  const publicKey = hexField(o.publicKey, 'publicKey', PUBLIC_KEY_LENGTH, PUBLIC_KEY_LENGTH, bad);
  let address: string;
  try {
    address = addressFromPublicKey(hexToBytes(publicKey));
  } catch (err) {
    throw bad('publicKey is not a valid compressed secp256k1 key', err);
  }
  if (o.address !== address) throw bad('address does not belong to publicKey');
  if (o.insecure !== undefined && o.insecure !== true) throw bad('insecure must be true or absent');
  if (typeof o.createdAt !== 'string' || o.createdAt.length > 64) throw bad('createdAt must be a date string');

  const c = asRecord(o.crypto, 'crypto', bad);
  if (c.kdf !== 'scrypt') throw bad(`unsupported kdf ${String(c.kdf)}`);
  if (c.cipher !== 'aes-256-gcm') throw bad(`unsupported cipher ${String(c.cipher)}`);
  const kp = asRecord(c.kdfparams, 'crypto.kdfparams', bad);
  const { n, r, p } = kp;
  if (!isInt(n) || !isInt(r) || !isInt(p)) throw bad('kdfparams n, r and p must be integers');
  checkScryptParams(n, r, p, (why) => bad(`kdfparams: ${why}`));
  if (kp.dklen !== DKLEN) throw bad(`kdfparams.dklen must be ${DKLEN}`);
  const salt = hexField(kp.salt, 'kdfparams.salt', MIN_SALT_LENGTH, MAX_SALT_LENGTH, bad);
  const cp = asRecord(c.cipherparams, 'crypto.cipherparams', bad);
  const nonce = hexField(cp.nonce, 'cipherparams.nonce', NONCE_LENGTH, NONCE_LENGTH, bad);
  const sealedLength = SECRET_LENGTH + GCM_TAG_LENGTH;
  const ciphertext = hexField(c.ciphertext, 'ciphertext', sealedLength, sealedLength, bad);

  return {
    version: KEYSTORE_VERSION,
    name: expectedName,
    address,
    publicKey,
    ...(o.insecure === true ? { insecure: true as const } : {}),
    crypto: {
      kdf: 'scrypt',
      kdfparams: { n, r, p, dklen: DKLEN, salt },
      cipher: 'aes-256-gcm',
      cipherparams: { nonce },
      ciphertext,
    },
    createdAt: o.createdAt,
  };
}

function checkScryptParams(n: number, r: number, p: number, fail: (why: string) => Error): void {
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_SCRYPT_N || (n & (n - 1)) !== 0) {
    throw fail(`N must be a power of two from 2 to 2^20, got ${n}`);
  }
  if (r < 1 || r > MAX_SCRYPT_R) throw fail(`r must be 1..${MAX_SCRYPT_R}, got ${r}`);
  if (p < 1 || p > MAX_SCRYPT_P) throw fail(`p must be 1..${MAX_SCRYPT_P}, got ${p}`);
  if (128 * n * r > MAX_SCRYPT_MEMORY) throw fail(`N*r needs more than ${MAX_SCRYPT_MEMORY / 2 ** 20} MiB`);
}

async function deriveKey(passphrase: string, salt: Uint8Array, n: number, r: number, p: number): Promise<Uint8Array> {
  // NFKC so the same passphrase typed on different systems (composed vs decomposed accents) opens the key.
  return scryptAsync(utf8ToBytes(passphrase.normalize('NFKC')), salt, {
    N: n,
    r,
    p,
    dkLen: DKLEN,
    maxmem: MAX_SCRYPT_MEMORY + 2 * 1024 * 1024,
    // The CLI has nothing else to do while deriving; long slices keep the async overhead small.
    asyncTick: 100,
  });
}

function toInfo({ file, path }: { file: KeyFile; path: string }): KeyInfo {
  return {
    name: file.name,
    address: file.address,
    publicKey: hexToBytes(file.publicKey),
    createdAt: file.createdAt,
    insecure: file.insecure === true,
    path,
  };
}

function keyPath(dir: string, name: string): string {
  return join(dir, `${name}${KEY_FILE_SUFFIX}`);
}

function nameTaken(name: string, path: string): PheromonesError {
  return new PheromonesError('already-exists', `a key named '${name}' already exists (${path}); choose another name`);
}

function asRecord(v: unknown, what: string, bad: (why: string) => Error): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function hexField(v: unknown, what: string, minBytes: number, maxBytes: number, bad: (why: string) => Error): string {
  if (typeof v !== 'string' || !/^([0-9a-f]{2})+$/.test(v) || v.length < 2 * minBytes || v.length > 2 * maxBytes) {
    const size = minBytes === maxBytes ? `${minBytes}` : `${minBytes} to ${maxBytes}`;
    throw bad(`${what} must be ${size} bytes of lowercase hex`);
  }
  return v;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
