import { bigIntToBytes, bytesToBigInt } from './bytes.js';
import type { ChainParams } from './params.js';

/**
 * The target a block at `height` must carry.
 *
 * Every `retargetInterval` (N) blocks, at heights that are multiples of N,
 * the target is scaled by how long the last N blocks took:
 *   actual   = timestamp(h-1) - timestamp(h-N)       (N-1 intervals)
 *   expected = (N-1) * targetSpacingMs
 *   actual is clamped to [expected/4, expected*4]
 *   target   = min(powLimit, max(1, parentTarget * actual / expected))
 * At any other height the target is the parent's. Integer arithmetic on the
 * 256-bit value, floor division, so any implementation gets the same bytes.
 *
 * `timestampAt(k)` returns the timestamp of the ancestor at height k on the
 * block's own branch.
 */
export function expectedTarget(
  params: ChainParams,
  height: number,
  parentTarget: Uint8Array,
  timestampAt: (height: number) => number,
): Uint8Array {
  const n = params.retargetInterval;
  if (height === 0) return params.genesisTarget;
  if (height % n !== 0 || height < n) return parentTarget;
  const expected = BigInt((n - 1) * params.targetSpacingMs);
  let actual = BigInt(timestampAt(height - 1) - timestampAt(height - n));
  if (actual < expected / 4n) actual = expected / 4n;
  if (actual > expected * 4n) actual = expected * 4n;
  const limit = bytesToBigInt(params.genesisTarget);
  let next = (bytesToBigInt(parentTarget) * actual) / expected;
  if (next > limit) next = limit;
  if (next < 1n) next = 1n;
  return bigIntToBytes(next, 32);
}
