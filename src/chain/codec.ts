import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  BlockHeaderSchema,
  BlockSchema,
  TransactionSchema,
  type Block as BlockPb,
  type BlockHeader as BlockHeaderPb,
  type Transaction as TransactionPb,
} from '../gen/pheromones/chain/v1/chain_pb.js';
import { PheromonesError } from '../errors.js';
import { makeBlock, type Block } from './block.js';
import type { BlockHeader } from './header.js';
import { makeTransaction, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type Transaction } from './transaction.js';

/**
 * Protobuf is the transport and storage form only; what is hashed and
 * signed is the canonical encoding in transaction.ts and header.ts. Decoding
 * checks every fixed-size field so a hostile peer cannot make us build a
 * transaction or header that the canonical encoder would reject.
 */

function bad(what: string): PheromonesError {
  return new PheromonesError('invalid-argument', `malformed chain data: ${what}`);
}

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${what} out of range`);
  return Number(v);
}

function fixed(b: Uint8Array, len: number, what: string): Uint8Array {
  if (b.length !== len) throw bad(`${what} must be ${len} bytes, got ${b.length}`);
  return b;
}

export function txToProto(tx: Transaction): TransactionPb {
  return create(TransactionSchema, {
    author: tx.author,
    topic: tx.topic,
    payload: tx.payload,
    timestampMs: BigInt(tx.timestampMs),
    nonce: tx.nonce,
    signature: tx.signature,
  });
}

export function txFromProto(m: TransactionPb): Transaction {
  return makeTransaction({
    author: fixed(m.author, PUBLIC_KEY_BYTES, 'author'),
    topic: m.topic,
    payload: m.payload,
    timestampMs: safeNumber(m.timestampMs, 'timestamp'),
    nonce: m.nonce,
    signature: fixed(m.signature, SIGNATURE_BYTES, 'signature'),
  });
}

export function headerToProto(h: BlockHeader): BlockHeaderPb {
  return create(BlockHeaderSchema, {
    version: h.version,
    height: BigInt(h.height),
    prevHash: h.prevHash,
    timestampMs: BigInt(h.timestampMs),
    merkleRoot: h.merkleRoot,
    target: h.target,
    nonce: h.nonce,
    miner: h.miner,
  });
}

export function headerFromProto(m: BlockHeaderPb): BlockHeader {
  return {
    version: m.version,
    height: safeNumber(m.height, 'height'),
    prevHash: fixed(m.prevHash, 32, 'prev hash'),
    timestampMs: safeNumber(m.timestampMs, 'timestamp'),
    merkleRoot: fixed(m.merkleRoot, 32, 'merkle root'),
    target: fixed(m.target, 32, 'target'),
    nonce: m.nonce,
    miner: fixed(m.miner, PUBLIC_KEY_BYTES, 'miner'),
  };
}

export function blockToProto(b: Block): BlockPb {
  return create(BlockSchema, { header: headerToProto(b.header), transactions: b.txs.map(txToProto) });
}

export function blockFromProto(m: BlockPb): Block {
  if (m.header === undefined) throw bad('block without header');
  return makeBlock(headerFromProto(m.header), m.transactions.map(txFromProto));
}

export function encodeTransaction(tx: Transaction): Uint8Array {
  return toBinary(TransactionSchema, txToProto(tx));
}

export function decodeTransaction(bytes: Uint8Array, maxBytes: number): Transaction {
  if (bytes.length > maxBytes) throw bad(`transaction of ${bytes.length} bytes exceeds ${maxBytes}`);
  let m: TransactionPb;
  try {
    m = fromBinary(TransactionSchema, bytes);
  } catch (err) {
    throw bad(`transaction does not decode (${(err as Error).message})`);
  }
  return txFromProto(m);
}

export function encodeBlock(b: Block): Uint8Array {
  return toBinary(BlockSchema, blockToProto(b));
}

/**
 * `maxBytes` bounds the protobuf size before anything is allocated for the
 * decoded message; callers pass a little more than maxBlockBytes since the
 * protobuf form carries tags and lengths on top of the canonical bytes.
 */
export function decodeBlock(bytes: Uint8Array, maxBytes: number): Block {
  if (bytes.length > maxBytes) throw bad(`block of ${bytes.length} bytes exceeds ${maxBytes}`);
  let m: BlockPb;
  try {
    m = fromBinary(BlockSchema, bytes);
  } catch (err) {
    throw bad(`block does not decode (${(err as Error).message})`);
  }
  return blockFromProto(m);
}

/**
 * A safe upper bound on the protobuf size of a block that passes the
 * network's limits (protobuf adds per-field tags and lengths where the
 * canonical form has a domain tag and fixed lengths): use it as decodeBlock's
 * `maxBytes` and as the frame limit for block messages.
 */
export function maxEncodedBlockBytes(params: { maxBlockBytes: number; maxBlockTxs: number }): number {
  return params.maxBlockBytes + 64 * params.maxBlockTxs + 1024;
}
