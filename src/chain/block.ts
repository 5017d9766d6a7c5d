import { toHex } from './bytes.js';
import { HEADER_BYTES, hashHeader, type BlockHeader } from './header.js';
import { merkleRoot } from './merkle.js';
import { txSize, type Transaction } from './transaction.js';

export interface Block {
  readonly header: BlockHeader;
  readonly txs: readonly Transaction[];
  /** Derived: sha256 of the canonical header bytes. */
  readonly hash: Uint8Array;
  readonly hashHex: string;
}

export function makeBlock(header: BlockHeader, txs: readonly Transaction[]): Block {
  const hash = hashHeader(header);
  return { header, txs, hash, hashHex: toHex(hash) };
}

/** Canonical size used for the block size limit: header bytes plus each transaction's canonical size. */
export function blockSize(block: { txs: readonly Transaction[] }): number {
  let size = HEADER_BYTES;
  for (const tx of block.txs) size += txSize(tx);
  return size;
}

export function computeMerkleRoot(txs: readonly Transaction[]): Uint8Array {
  return merkleRoot(txs.map((tx) => tx.id));
}
