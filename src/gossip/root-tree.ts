import { RTT_FLOOR_MS } from './link-weight.js';

/**
 * Gossip/5's rooted tree: every node keeps a shortest round-trip path to one
 * root, the lowest node id it hears of, and the links of these paths are the
 * broadcast tree (link-weight.ts weighs them lightest, so the prune rule keeps
 * exactly them).
 *
 * Why not the minimum spanning tree of the link weights alone: it minimises
 * the sum of the links, not the depth, and its paths grew to 4.7× the graph's
 * latency diameter at 1,000 nodes, far past the graft timeout, so shortcuts
 * were grafted and pruned again for every message (docs/scale.md, "the graft
 * loop"). A path between two nodes of a shortest-path tree is at most their
 * two distances to the root, so at most twice the root's eccentricity.
 *
 * The distance vector is Babel's (RFC 8966) in small: the root stamps a
 * beacon every beaconMs (`seq`, on its own clock, so a restarted root still
 * counts up), and a node takes a path through a neighbour only if it is
 * feasible: a newer stamp than its own, or the same stamp with a distance
 * below the least it has announced for that stamp. Feasible paths never form
 * a loop; a node left with none announces that it has no path and waits for
 * the next beacon. A root whose stamp has not moved for rootTimeoutMs is
 * taken for gone, and the next lowest id takes its place.
 */

/** Distance announced by a node without a path at its stamp. */
export const NO_PATH = 0xffffffff;

/** What a node tells one neighbour (GossipTree). */
export interface TreeAdvert {
  /** Root id, hex. */
  root: string;
  seq: number;
  distanceMs: number;
  /** The receiver is the sender's parent. */
  parent: boolean;
}

export interface RootTreeOptions {
  localHex: string;
  beaconMs: number;
  rootTimeoutMs: number;
  /** The link's round trip now, or a negative number while it is unmeasured. */
  rttOf: (peerId: string) => number;
  send: (peerId: string, advert: TreeAdvert) => void;
  /** Which links are tree links may have changed. */
  onChange: () => void;
}

export const ROOT_TREE_DEFAULTS = {
  beaconMs: 10_000,
  rootTimeoutMs: 35_000,
};

/** An unmeasured link costs this much, so a measured one is preferred. */
const UNMEASURED_RTT_MS = 2_000;
/** A better parent must be this much nearer the root, so jitter does not swap parents. */
const SWITCH_RATIO = 0.9;
/** A distance change smaller than this share is not worth an advert of its own (the next beacon carries it). */
const READVERT_RATIO = 0.05;
/** Gone roots remembered, so their stale adverts are not taken up again. */
const MAX_GONE_ROOTS = 16;
/** Adverts are sent this long after a change, so one burst of changes sends one advert per link. */
const FLUSH_MS = 10;

interface TreeLink {
  /** The neighbour's latest advert to us. */
  heard?: TreeAdvert;
  /**
   * The least round trip measured on the link: a ping answered late by a
   * busy peer or a full queue says nothing about the path, and a parent
   * chosen on the last sample would change with every such ping.
   */
  rttMs?: number;
  /** Our latest advert to it. */
  told?: TreeAdvert;
}

export interface RootTreeState {
  root: string;
  seq: number;
  distanceMs: number;
  parent: string | undefined;
}

export class RootTree {
  private readonly links = new Map<string, TreeLink>();
  private root: string;
  private seq: number;
  private distanceMs = 0;
  private parent: string | undefined;
  /** Least distance announced at the current stamp (Babel's feasibility distance). */
  private feasibleMs = 0;
  /** Newest stamp of the root seen from anyone, and when it last rose. */
  private newestSeq: number;
  private newestAt: number;
  private readonly gone = new Map<string, number>();
  private readonly tick: NodeJS.Timeout;
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Changes of root and of parent, for the statistics. */
  rootChanges = 0;
  parentChanges = 0;

  constructor(private readonly opts: RootTreeOptions) {
    this.root = opts.localHex;
    this.seq = Date.now();
    this.newestSeq = this.seq;
    this.newestAt = Date.now();
    this.tick = setInterval(() => this.onTick(), opts.beaconMs);
    this.tick.unref?.();
  }

  state(): RootTreeState {
    return { root: this.root, seq: this.seq, distanceMs: this.distanceMs, parent: this.parent };
  }

  /** The link to `peerId` is in the tree: it is our parent, or we are its. */
  isTreeLink(peerId: string): boolean {
    return this.parent === peerId || this.links.get(peerId)?.heard?.parent === true;
  }

  addLink(peerId: string): void {
    this.links.set(peerId, {});
    this.scheduleFlush();
  }

  removeLink(peerId: string): void {
    if (!this.links.delete(peerId)) return;
    this.recompute();
  }

  onAdvert(peerId: string, advert: TreeAdvert): void {
    const link = this.links.get(peerId);
    if (link === undefined) return;
    const wasTree = this.isTreeLink(peerId);
    link.heard = advert;
    const gone = this.gone.get(advert.root);
    if (gone !== undefined && advert.seq > gone) this.gone.delete(advert.root);
    this.recompute();
    if (this.isTreeLink(peerId) !== wasTree) this.opts.onChange();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.tick);
    clearTimeout(this.flushTimer);
  }

  private isGone(root: string, seq: number): boolean {
    const gone = this.gone.get(root);
    return gone !== undefined && seq <= gone;
  }

  private onTick(): void {
    const now = Date.now();
    if (this.root === this.opts.localHex) {
      this.seq = now;
      this.newestSeq = now;
      this.newestAt = now;
    } else if (now - this.newestAt > this.opts.rootTimeoutMs) {
      this.gone.set(this.root, this.newestSeq);
      if (this.gone.size > MAX_GONE_ROOTS) this.gone.delete(this.gone.keys().next().value!);
    }
    // Round trips change with every ping: the tick takes them up, and carries the stamp.
    this.recompute();
    this.opts.onChange();
  }

  private recompute(): void {
    const before = this.parent;
    let best = this.opts.localHex;
    for (const link of this.links.values()) {
      const h = link.heard;
      if (h === undefined || h.root === this.opts.localHex || h.distanceMs === NO_PATH || this.isGone(h.root, h.seq)) continue;
      if (h.root < best) best = h.root;
    }
    if (best !== this.root) {
      this.rootChanges++;
      this.root = best;
      // Stamps are the root's clock in ms, so 0 is older than any: the first path offered is taken.
      this.newestSeq = best === this.opts.localHex ? Date.now() : 0;
      this.newestAt = Date.now();
      this.seq = this.newestSeq;
      this.feasibleMs = NO_PATH;
    }
    if (best === this.opts.localHex) {
      this.parent = undefined;
      this.distanceMs = 0;
      this.feasibleMs = 0;
    } else {
      this.choosePath();
    }
    if (before !== this.parent) {
      this.parentChanges++;
      this.opts.onChange();
    }
    this.scheduleFlush();
  }

  /** Round trips under RTT_FLOOR_MS count as that (on a LAN or loopback they are noise), so there the tree is by hop count. */
  private costVia(peerId: string, link: TreeLink, h: TreeAdvert): number {
    const rtt = this.opts.rttOf(peerId);
    if (rtt >= 0) link.rttMs = Math.min(link.rttMs ?? rtt, rtt);
    return h.distanceMs + (link.rttMs === undefined ? UNMEASURED_RTT_MS : Math.max(RTT_FLOOR_MS, Math.round(link.rttMs)));
  }

  private feasible(h: TreeAdvert): boolean {
    return h.root === this.root && h.distanceMs !== NO_PATH && !h.parent && (h.seq > this.seq || (h.seq === this.seq && h.distanceMs < this.feasibleMs));
  }

  private choosePath(): void {
    for (const link of this.links.values()) {
      const h = link.heard;
      if (h !== undefined && h.root === this.root && h.seq > this.newestSeq) {
        this.newestSeq = h.seq;
        this.newestAt = Date.now();
      }
    }
    let bestId: string | undefined;
    let bestCost = Number.POSITIVE_INFINITY;
    let current: number | undefined;
    for (const [id, link] of this.links) {
      const h = link.heard;
      if (h === undefined || !this.feasible(h)) continue;
      const cost = this.costVia(id, link, h);
      if (id === this.parent) current = cost;
      if (cost < bestCost || (cost === bestCost && bestId !== undefined && id < bestId)) {
        bestCost = cost;
        bestId = id;
      }
    }
    if (current !== undefined && bestCost > current * SWITCH_RATIO) {
      bestId = this.parent;
      bestCost = current;
    }
    if (bestId === undefined) {
      // Nothing feasible: keep the stamp, announce no path, and wait for a newer stamp.
      this.parent = undefined;
      this.distanceMs = NO_PATH;
      return;
    }
    const seq = this.links.get(bestId)!.heard!.seq;
    if (seq !== this.seq) {
      this.seq = seq;
      this.feasibleMs = NO_PATH;
    }
    this.parent = bestId;
    this.distanceMs = Math.min(NO_PATH - 1, bestCost);
    this.feasibleMs = Math.min(this.feasibleMs, this.distanceMs);
  }

  private scheduleFlush(): void {
    if (this.closed || this.flushTimer !== undefined) return;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
    this.flushTimer.unref?.();
  }

  /** Tell each neighbour what changed for it. */
  private flush(): void {
    this.flushTimer = undefined;
    for (const [id, link] of this.links) {
      const advert: TreeAdvert = { root: this.root, seq: this.seq, distanceMs: this.distanceMs, parent: this.parent === id };
      const told = link.told;
      if (
        told !== undefined &&
        told.root === advert.root &&
        told.seq === advert.seq &&
        told.parent === advert.parent &&
        (told.distanceMs === advert.distanceMs ||
          (told.distanceMs !== NO_PATH && advert.distanceMs !== NO_PATH && Math.abs(told.distanceMs - advert.distanceMs) <= told.distanceMs * READVERT_RATIO))
      ) {
        continue;
      }
      link.told = advert;
      this.opts.send(id, advert);
    }
  }
}
