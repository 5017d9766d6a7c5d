import { ByteWriter, sha256, toHex, U64_MAX } from './bytes.js';
import { publicKeyOf, signDigest, verifyMessage } from './signature.js';

/**
 * A transaction is a signed message. Its id is sha256 of the canonical
 * signing bytes (docs/chain.md), and the signature is over that id, so the id
 * commits to everything except the signature itself.
 */
export interface Transaction {
  /** 33-byte compressed secp256k1 public key. */
  readonly author: Uint8Array;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Author's clock, ms since the Unix epoch. */
  readonly timestampMs: number;
  /** u64 making otherwise equal messages distinct. */
  readonly nonce: bigint;
  /** 64-byte compact r||s, low S. */
  readonly signature: Uint8Array;
  /** Derived: sha256(signingBytes). Never taken from the wire. */
  readonly id: Uint8Array;
  readonly idHex: string;
  /** Derived: the canonical bytes the id hashes. */
  readonly signingBytes: Uint8Array;
}

export interface TransactionFields {
  author: Uint8Array;
  topic: string;
  payload: Uint8Array;
  timestampMs: number;
  nonce: bigint;
  signature: Uint8Array;
}

export const TX_DOMAIN = new TextEncoder().encode('pheromones/tx/v1');
export const PUBLIC_KEY_BYTES = 33;
export const SIGNATURE_BYTES = 64;

const utf8 = new TextEncoder();

/**
 * "pheromones/tx/v1" || author (33) || u64 BE timestamp_ms || u64 BE nonce
 * || u32 BE topic length || topic (UTF-8) || u32 BE payload length || payload
 */
export function txSigningBytes(f: Omit<TransactionFields, 'signature'>): Uint8Array {
  if (f.author.length !== PUBLIC_KEY_BYTES) throw new RangeError(`author must be ${PUBLIC_KEY_BYTES} bytes`);
  return new ByteWriter()
    .bytes(TX_DOMAIN)
    .bytes(f.author)
    .u64(f.timestampMs)
    .u64(f.nonce)
    .varBytes(utf8.encode(f.topic))
    .varBytes(f.payload)
    .finish();
}

/** Builds the derived fields; does not check the signature (see verifyTransaction). */
export function makeTransaction(f: TransactionFields): Transaction {
  const signingBytes = txSigningBytes(f);
  const id = sha256(signingBytes);
  return {
    author: f.author,
    topic: f.topic,
    payload: f.payload,
    timestampMs: f.timestampMs,
    nonce: f.nonce,
    signature: f.signature,
    id,
    idHex: toHex(id),
    signingBytes,
  };
}

let nonceCounter = 0n;

/** Sign a new message. The default nonce mixes the clock with a counter so two calls in one ms differ. */
export function signTransaction(
  privateKey: Uint8Array,
  topic: string,
  payload: Uint8Array,
  options: { timestampMs?: number; nonce?: bigint } = {},
): Transaction {
  const author = publicKeyOf(privateKey);
  const timestampMs = options.timestampMs ?? Date.now();
  const nonce = options.nonce ?? ((BigInt(process.hrtime.bigint()) << 16n) + nonceCounter++) & U64_MAX;
  const signingBytes = txSigningBytes({ author, topic, payload, timestampMs, nonce });
  const signature = signDigest(sha256(signingBytes), privateKey);
  return makeTransaction({ author, topic, payload, timestampMs, nonce, signature });
}

/** Canonical size used by the block and pool limits: signing bytes plus the signature. */
export function txSize(tx: Transaction): number {
  return tx.signingBytes.length + SIGNATURE_BYTES;
}

export function verifyTransactionSignature(tx: Transaction): boolean {
  return verifyMessage(tx.signature, tx.signingBytes, tx.author);
}

export interface TxLimits {
  maxTopicBytes: number;
  maxPayloadBytes: number;
}

/** Structural checks that need no chain state; returns a reason or undefined. */
export function checkTransactionShape(tx: Transaction, limits: TxLimits): string | undefined {
  if (tx.author.length !== PUBLIC_KEY_BYTES) return 'author public key must be 33 bytes';
  if (tx.signature.length !== SIGNATURE_BYTES) return 'signature must be 64 bytes';
  if (!Number.isSafeInteger(tx.timestampMs) || tx.timestampMs < 0) return 'timestamp out of range';
  if (tx.nonce < 0n || tx.nonce > U64_MAX) return 'nonce out of range';
  const topicBytes = utf8.encode(tx.topic).length;
  if (topicBytes === 0) return 'topic is empty';
  if (topicBytes > limits.maxTopicBytes) return `topic longer than ${limits.maxTopicBytes} bytes`;
  if (tx.payload.length > limits.maxPayloadBytes) return `payload larger than ${limits.maxPayloadBytes} bytes`;
  return undefined;
}
