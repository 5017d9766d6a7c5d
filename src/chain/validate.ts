import { bytesEqual, toHex } from './bytes.js';
import { blockSize, computeMerkleRoot, type Block } from './block.js';
import { HEADER_VERSION, meetsTarget } from './header.js';
import type { ChainParams } from './params.js';
import { checkTransactionShape } from './transaction.js';

/**
 * Block checks that need no chain state: version, proof of work against the
 * header's own target, size limits, transaction shape, duplicate ids and the
 * merkle root. Signatures are checked separately (they are the expensive
 * part and may run in worker threads). Returns a reason, or undefined.
 */
export function checkBlockStandalone(block: Block, params: ChainParams): string | undefined {
  const h = block.header;
  if (h.version !== HEADER_VERSION) return `unknown header version ${h.version}`;
  if (!meetsTarget(block.hash, h.target)) return 'proof of work does not meet the header target';
  if (block.txs.length > params.maxBlockTxs) return `more than ${params.maxBlockTxs} transactions`;
  const size = blockSize(block);
  if (size > params.maxBlockBytes) return `block of ${size} bytes exceeds ${params.maxBlockBytes}`;
  const seen = new Set<string>();
  for (const tx of block.txs) {
    const bad = checkTransactionShape(tx, params);
    if (bad !== undefined) return `transaction ${tx.idHex.slice(0, 16)}: ${bad}`;
    if (tx.timestampMs > h.timestampMs + params.maxFutureMs) {
      return `transaction ${tx.idHex.slice(0, 16)} is dated too far after its block`;
    }
    // Also closes the CVE-2012-2459 merkle ambiguity (see merkle.ts).
    if (seen.has(tx.idHex)) return `transaction ${tx.idHex.slice(0, 16)} appears twice in the block`;
    seen.add(tx.idHex);
  }
  if (!bytesEqual(computeMerkleRoot(block.txs), h.merkleRoot)) return 'merkle root does not match the transactions';
  return undefined;
}

/** What a header is checked against: its parent on its own branch. */
export interface HeaderContext {
  parentHash: Uint8Array;
  parentHeight: number;
  /** Median timestamp of the last `medianTimeSpan` blocks ending at the parent. */
  medianTimePastMs: number;
  /** The target the retarget rule requires at this height on this branch. */
  expectedTarget: Uint8Array;
  nowMs: number;
}

export function checkHeaderContext(block: Block, ctx: HeaderContext, params: ChainParams): string | undefined {
  const h = block.header;
  if (h.height !== ctx.parentHeight + 1) return `height ${h.height} does not follow parent height ${ctx.parentHeight}`;
  if (!bytesEqual(h.prevHash, ctx.parentHash)) return 'previous hash does not match the parent';
  if (!bytesEqual(h.target, ctx.expectedTarget)) {
    return `target ${toHex(h.target).slice(0, 16)}… differs from the required ${toHex(ctx.expectedTarget).slice(0, 16)}…`;
  }
  if (h.timestampMs <= ctx.medianTimePastMs) return 'timestamp is not after the median of recent blocks';
  if (h.timestampMs > ctx.nowMs + params.maxFutureMs) return 'timestamp is too far in the future';
  return undefined;
}

export function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
