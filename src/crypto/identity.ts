import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PheromonesError } from '../errors.js';
import { sha256 } from './hash.js';
import { InvalidKeyError, isValidSecretKey, privateKeyObject, publicKeyOf } from './secp256k1.js';

/**
 * A node's long-term identity. The node id is sha256 of the 33-byte
 * compressed public key (docs/protocol.md), shown as lowercase hex.
 */
export interface NodeIdentity {
  /** 32-byte secp256k1 secret scalar. */
  readonly privateKey: Uint8Array;
  /** 33-byte compressed SEC1 public key. */
  readonly publicKey: Uint8Array;
  /** 32-byte node id. */
  readonly nodeId: Uint8Array;
  /** The node id as 64 lowercase hex characters. */
  readonly nodeIdHex: string;
}

/** Node id: sha256 of the 33-byte compressed static public key. */
export function nodeIdOf(publicKey: Uint8Array): Buffer {
  return sha256(publicKey);
}

export function identityFromSecret(secret: Uint8Array): NodeIdentity {
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyOf(secret);
  } catch (err) {
    if (err instanceof InvalidKeyError) throw new PheromonesError('invalid-argument', `identity secret: ${err.message}`);
    throw err;
  }
  const nodeId = nodeIdOf(publicKey);
  return Object.freeze({
    privateKey: Uint8Array.from(secret),
    publicKey,
    nodeId,
    nodeIdHex: nodeId.toString('hex'),
  });
}

export function generateIdentity(): NodeIdentity {
  for (;;) {
    const secret = randomBytes(32);
    if (isValidSecretKey(secret)) return identityFromSecret(secret);
  }
}

const signingKeys = new WeakMap<NodeIdentity, KeyObject>();

/** The identity's secret as a node:crypto key, imported once per identity object. */
export function signingKeyOf(identity: NodeIdentity): KeyObject {
  let key = signingKeys.get(identity);
  if (key === undefined) {
    key = privateKeyObject(identity.privateKey);
    signingKeys.set(identity, key);
  }
  return key;
}

export const IDENTITY_FILE = 'node.key';

/**
 * Loads `<dataDir>/node.key` (64 hex characters), creating it on first start
 * (mode 0600, written to a temp file then renamed so a crash never leaves a
 * half-written key). A corrupt file is an error, never silently replaced:
 * replacing it would change the node's identity.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<NodeIdentity> {
  const path = join(dataDir, IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new PheromonesError('failed-precondition', `cannot read identity key ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  if (text !== undefined) {
    const hex = text.trim();
    const secret = Buffer.from(hex, 'hex');
    if (!/^[0-9a-fA-F]{64}$/.test(hex) || !isValidSecretKey(secret)) {
      throw new PheromonesError(
        'failed-precondition',
        `identity key ${path} is corrupt (expected 64 hex characters of a secp256k1 secret); ` +
          'restore it from a backup, or delete it to start with a new node id',
      );
    }
    return identityFromSecret(secret);
  }
  await mkdir(dataDir, { recursive: true });
  const identity = generateIdentity();
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(Buffer.from(identity.privateKey).toString('hex') + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return identity;
}
