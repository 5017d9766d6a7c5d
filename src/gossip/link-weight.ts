import { mix32, wordLE } from '../crypto/hash.js';

/**
 * Link weights for the broadcast tree's prune rule.
 *
 * A duplicate shows a cycle in the tree: the first copy's path and the
 * duplicate's path from the origin, plus the link the duplicate came on.
 * Plumtree prunes that link whatever the cycle. With messages from several
 * origins in flight, two duplicates can prune two links of the same cycle
 * at once, which cuts the tree in two; the cut-off side then grafts from
 * many nodes at once, which makes new cycles, and so on (docs/scale.md
 * measured ~37 grafts per message at 10 msgs/s). Here a node prunes a link
 * only when it is the heaviest of the cycle the duplicate shows. A link that
 * is the heaviest of some cycle is not in the graph's minimum spanning tree,
 * so however many prunes happen at once, the tree's links always include
 * that spanning tree and stay connected; the duplicates that remain prune
 * the heaviest links of the remaining cycles until the tree is that
 * spanning tree.
 *
 * A weight is the link's round-trip time, in buckets 20% wide so that both
 * ends (each measures its own pings) almost always agree, then the rank of
 * its lower-ranked end (pairHash says why), then a hash of the two node ids
 * so that no two links weigh the same. A link whose round trip is not
 * measured yet is heavier than any measured one.
 */

/** Heaviest weights a message carries (`GossipMessage.path_weights`). */
export const PATH_WEIGHTS = 8;

/** Buckets take the top 6 bits of a weight; the heaviest is kept for links not measured yet. */
const UNMEASURED_BUCKET = 63;
const BUCKET_RATIO = 1.2;
const BUCKET_UNIT = 2 ** 26;

/**
 * Round trips below this count as equal: on a LAN or loopback they are noise
 * (a busy event loop adds more than the wire), and 20%-wide buckets at 0-5 ms
 * would give the two ends of a link different weights.
 */
export const RTT_FLOOR_MS = 20;

function rttBucket(rttMs: number): number {
  if (!(rttMs >= 0)) return UNMEASURED_BUCKET;
  return Math.min(UNMEASURED_BUCKET - 1, Math.floor(Math.log(1 + Math.max(rttMs, RTT_FLOOR_MS)) / Math.log(BUCKET_RATIO)));
}

/** A node's rank, 10 bits from its id (hex): links to low-ranked nodes are lighter. */
export function nodeRank(idHex: string): number {
  return rank(Buffer.from(idHex.slice(0, 16), 'hex'));
}

function rank(id: Buffer): number {
  return mix32(wordLE(id, 0) ^ mix32(wordLE(id, 4))) >>> 22;
}

/**
 * The low 26 bits of a link's weight, the same at both ends: the rank of its
 * lower-ranked end, then a 16-bit hash of the two 32-byte ids (hex). Among
 * links of one round-trip bucket the tree takes those to low-ranked nodes,
 * so that each node hangs from its lowest-ranked neighbour: a shallow tree,
 * where ties broken by a hash alone give a random spanning tree, whose depth
 * grows much faster with N.
 */
export function pairHash(aHex: string, bHex: string): number {
  const [lo, hi] = aHex < bHex ? [aHex, bHex] : [bHex, aHex];
  const a = Buffer.from(lo.slice(0, 16), 'hex');
  const b = Buffer.from(hi.slice(0, 16), 'hex');
  const hash = mix32(wordLE(a, 0) ^ mix32(wordLE(a, 4) ^ mix32(wordLE(b, 0) ^ mix32(wordLE(b, 4))))) & 0xffff;
  return Math.min(rank(a), rank(b)) * 0x10000 + hash;
}

/** The weight of a link: its round-trip bucket above its pair part (a uint32). */
export function linkWeight(rttMs: number, pair: number): number {
  return rttBucket(rttMs) * BUCKET_UNIT + pair;
}

/** Gossip/5 weights take the top bit for "not a tree link" (root-tree.ts). */
const NOT_IN_TREE = 2 ** 31;

/**
 * Gossip/5's weight of a link: lighter than any other when it is a link of
 * the rooted tree, so the prune rule takes out the other links of every
 * cycle and keeps the rooted tree; below that bit the gossip/4 weight (its
 * lowest bit dropped) orders the rest, and all links while the tree is
 * still being learnt.
 */
export function rootedLinkWeight(rttMs: number, pair: number, inTree: boolean): number {
  const w = Math.floor(linkWeight(rttMs, pair) / 2);
  return inTree ? w : NOT_IN_TREE + w;
}

/**
 * The heaviest PATH_WEIGHTS of `weights` and `w`, heaviest first (a new
 * array). An insertion sort: at most 9 numbers, on every relayed message,
 * where Array.prototype.sort's work array was 6% of the bench's allocations.
 */
export function withWeight(weights: readonly number[], w: number): number[] {
  const out = weights.slice();
  out.push(w);
  for (let i = 1; i < out.length; i++) {
    const x = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]! < x) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = x;
  }
  if (out.length > PATH_WEIGHTS) out.length = PATH_WEIGHTS;
  return out;
}

/** Where the heaviest link of a cycle lies, seen from the node a duplicate reached. */
export type CycleHeaviest =
  /** The link the duplicate came on. */
  | { on: 'link' }
  /** A link of the first copy's path, after the two paths split: `weight` is its weight. */
  | { on: 'first'; weight: number }
  /** A link of the duplicate's path: the node at the other end of our link sees it as its own first path. */
  | { on: 'dup' };

/**
 * The heaviest link of the cycle a duplicate closes, on the link of weight
 * `w`. `first`: the heaviest weights of the first copy's path, its last link
 * included; `dup`: those of the duplicate's path up to the sender. Both
 * paths share their links from the origin to where they split, so a weight
 * in both lists is outside the cycle; after the split they are disjoint (a
 * node relays only its first copy). Undefined when a list may have cut off a
 * link as heavy as the cycle's heaviest (PATH_WEIGHTS or more that heavy).
 */
export function heaviestOfCycle(w: number, first: readonly number[], dup: readonly number[]): CycleHeaviest | undefined {
  const ownFirst = first.filter((x) => !dup.includes(x));
  const ownDup = dup.filter((x) => !first.includes(x));
  const max = Math.max(w, ...ownFirst, ...ownDup);
  if (first.filter((x) => x >= max).length >= PATH_WEIGHTS || dup.filter((x) => x >= max).length >= PATH_WEIGHTS) return undefined;
  if (max === w) return { on: 'link' };
  return ownFirst.includes(max) ? { on: 'first', weight: max } : { on: 'dup' };
}
