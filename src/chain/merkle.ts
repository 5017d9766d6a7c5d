import { sha256 } from './bytes.js';

/**
 * Bitcoin-style merkle root over transaction ids: pairwise sha256(left ||
 * right), duplicating the last node of an odd level. The root of no
 * transactions is 32 zero bytes; of one it is that id.
 *
 * CVE-2012-2459: duplicating the last node means [a, b, c] and [a, b, c, c]
 * have the same root, so a root alone does not pin the list. Validation
 * therefore rejects any block with a repeated transaction id, which removes
 * the ambiguity.
 */
export function merkleRoot(ids: readonly Uint8Array[]): Uint8Array {
  if (ids.length === 0) return new Uint8Array(32);
  let level: Uint8Array[] = [...ids];
  const pair = new Uint8Array(64);
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1] ?? left;
      pair.set(left, 0);
      pair.set(right, 32);
      next.push(sha256(pair));
    }
    level = next;
  }
  return level[0]!;
}
