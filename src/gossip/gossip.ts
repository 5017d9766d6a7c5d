import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { toHex } from '../crypto/hash.js';
import { PheromonesError } from '../errors.js';
import {
  GossipGraftSchema,
  GossipIHaveSchema,
  GossipMessageSchema,
  GossipPruneHintSchema,
  GossipPruneSchema,
  GossipTreeSchema,
  type Envelope,
  type GossipMessage,
} from '../gen/pheromones/wire/v1/wire_pb.js';
import type { Peer } from '../peer/peer.js';
import type { Protocol } from '../peer/protocol.js';
import type { MessageLog, StoredMessage } from '../store/message-log.js';
import { decodeEnvelope, encodeEnvelope, envelope } from '../wire/envelope.js';
import { MessageCache, type CachedMessage } from './message-cache.js';
import { heaviestOfCycle, linkWeight, pairHash, PATH_WEIGHTS, rootedLinkWeight, withWeight } from './link-weight.js';
import { computeMessageId } from './message-id.js';
import { MissingTable } from './missing.js';
import { RootTree, ROOT_TREE_DEFAULTS, type RootTreeState, type TreeAdvert } from './root-tree.js';
import { SeenCache } from './seen-cache.js';
import {
  emptyLinkCounters,
  emptyStats,
  OTHER_TOPICS,
  TopicCounters,
  type GossipStats,
  type LinkGossipCounters,
  type PeerGossipCounters,
  type TopicGossipCounters,
} from './stats.js';

export type { GossipStats, PeerGossipCounters, TopicGossipCounters } from './stats.js';

/** Longest topic accepted, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

/** No real path is this long; the bound keeps hops + 1 a valid uint32. */
const MAX_HOPS = 0xffff;

/** Most ids in one announcement or graft frame. */
export const MAX_IDS_PER_FRAME = 256;

/** Gossip version 2 adds the tree (announce, graft, prune); a version-1 peer is always flooded. */
const TREE_VERSION = 2;
/** The tree with prune hints (GossipPruneHint). */
const HINT_VERSION = 3;
/** Announcements and grafts name messages by 8-byte id prefixes. */
const SHORT_ID_VERSION = 4;
/** The tree is the shortest-path tree to one root (root-tree.ts). */
const ROOT_VERSION = 5;
/** Bytes of an id prefix, and of a gossip map key (the seen cache keys by the same 8 bytes). */
export const ID_PREFIX_BYTES = 8;
/** Prune hints one message may cause or pass on at a node. */
const MAX_HINTS_PER_MESSAGE = 4;

export type GossipMode = 'flood' | 'tree';

export interface GossipOptions {
  /** Our 32-byte node id, the origin of what we broadcast. */
  localId: Uint8Array;
  ttl: number;
  /** Largest frame body a peer accepts; a broadcast must fit in one. */
  maxFrameBytes: number;
  seenCacheEntries: number;
  seenCacheTtlMs: number;
  log: MessageLog;
  logger: Logger;
  /** 'tree' (default): push along a spanning tree, announce ids elsewhere. 'flood': push everywhere. */
  mode?: GossipMode;
  /** Announcements wait at most this long to be batched. */
  ihaveFlushMs?: number;
  /** Least time between two announcement frames on one link. */
  ihaveIntervalMs?: number;
  /** Wait after an announcement of a missing message before grafting it. */
  graftTimeoutMs?: number;
  /** Wait after a graft before asking the next announcer. */
  graftRetryMs?: number;
  /** Messages kept to answer grafts: most entries, most bytes, longest time. */
  cacheEntries?: number;
  cacheBytes?: number;
  cacheTtlMs?: number;
  /** Missing ids tracked at once. */
  missingEntries?: number;
  /** The rooted tree's root stamps its beacon this often; a root silent for rootTimeoutMs is taken for gone. */
  treeBeaconMs?: number;
  treeRootTimeoutMs?: number;
}

export const GOSSIP_DEFAULTS = {
  mode: 'tree' as GossipMode,
  ihaveFlushMs: 20,
  ihaveIntervalMs: 1_000,
  graftTimeoutMs: 250,
  graftRetryMs: 150,
  cacheEntries: 1024,
  cacheBytes: 2 * 1024 * 1024,
  cacheTtlMs: 3_000,
  missingEntries: 4096,
  treeBeaconMs: ROOT_TREE_DEFAULTS.beaconMs,
  treeRootTimeoutMs: ROOT_TREE_DEFAULTS.rootTimeoutMs,
};

/**
 * An id waiting to be announced, by its map key only: the id bytes of a
 * received message are a view into its whole decrypted record, which a
 * queued view would keep alive (and promote to the old generation) until the
 * flush.
 */
interface PendingId {
  key: string;
  due: number;
}

/** Announcement delays grow with the hop count up to this many hops. */
const MAX_DELAY_HOPS = 8;

/** Gossip's view of one open session. */
interface Link {
  peer: Peer;
  /** The peer speaks gossip/2: it can be pruned, announced to, grafted. */
  tree: boolean;
  /** We push full messages to it (always true for a version-1 peer). */
  eager: boolean;
  /** Ids waiting to be announced, each with the time it is due. */
  pending: PendingId[];
  counters: LinkGossipCounters;
  /** The low half of the link's weight (link-weight.ts), fixed for the session. */
  pair: number;
  /** The peer speaks gossip/3: prune hints may go to it. */
  hints: boolean;
  /** The peer speaks gossip/4: announcements and grafts carry id prefixes. */
  short: boolean;
  /** No announcement frame goes to the peer before this time. */
  quietUntil: number;
  /** The peer speaks gossip/5: the tree is the rooted one, learnt from GossipTree adverts. */
  rooted: boolean;
  /** Gossip/5: until this time the link keeps pushing even when it is not a tree link. */
  eagerUntil: number;
}

/**
 * Map key of a message: the first 8 bytes of its id (or the prefix a gossip/4
 * peer sent), as latin1, a plain byte-per-char copy. The seen cache already
 * takes two ids sharing 8 bytes for one message (docs/protocol.md says why
 * that is safe), so the graft cache and missing table may key by them too.
 */
const KEY = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, ID_PREFIX_BYTES).toString('latin1');

function encode(kind: Envelope['kind']): Uint8Array {
  return encodeEnvelope(envelope(kind));
}

function encodeGossip(msg: GossipMessage): Uint8Array {
  return encode({ case: 'gossip', value: msg });
}

const NO_ID = new Uint8Array(0);

/** The encoding a gossip/5 peer gets: without the id, which it computes from the content anyway to check it. */
function encodeBare(msg: GossipMessage): Uint8Array {
  const id = msg.id;
  msg.id = NO_ID;
  try {
    return encodeGossip(msg);
  } finally {
    msg.id = id;
  }
}

/** The cached message's encoding for `link`, made from the other one when only that was needed so far. */
function cachedBody(entry: CachedMessage, rooted: boolean): Uint8Array {
  if (rooted && entry.bare !== undefined) return entry.bare;
  if (entry.body !== undefined) return entry.body;
  const env = decodeEnvelope(entry.bare!);
  if (env.kind.case !== 'gossip') throw new PheromonesError('internal', 'a cached gossip body is not a gossip message');
  env.kind.value.id = entry.id;
  entry.body = encodeGossip(env.kind.value);
  return entry.body;
}

export function topicBytes(topic: string): number {
  return Buffer.byteLength(topic, 'utf8');
}

/**
 * The ids of an announcement or graft, full or (gossip/4) as 8-byte
 * prefixes: views into the frame, checked before anything is kept.
 */
function idsOf(value: { ids: Uint8Array[]; idPrefixes: Uint8Array }, short: boolean, what: string): Uint8Array[] {
  const { ids, idPrefixes } = value;
  for (const id of ids) if (id.length !== 32) throw new PheromonesError('protocol-violation', `${what} id of ${id.length} bytes`);
  if (idPrefixes.length === 0) {
    if (ids.length > MAX_IDS_PER_FRAME) throw new PheromonesError('protocol-violation', `${what} of ${ids.length} ids`);
    return ids;
  }
  if (!short) throw new PheromonesError('protocol-violation', `${what} with id prefixes on a session without gossip/4`);
  if (idPrefixes.length % ID_PREFIX_BYTES !== 0) {
    throw new PheromonesError('protocol-violation', `${what} id prefixes of ${idPrefixes.length} bytes, not a multiple of ${ID_PREFIX_BYTES}`);
  }
  const count = ids.length + idPrefixes.length / ID_PREFIX_BYTES;
  if (count > MAX_IDS_PER_FRAME) throw new PheromonesError('protocol-violation', `${what} of ${count} ids`);
  const all = [...ids];
  for (let at = 0; at < idPrefixes.length; at += ID_PREFIX_BYTES) all.push(idPrefixes.subarray(at, at + ID_PREFIX_BYTES));
  return all;
}

/** 8-byte prefixes of `keys` (map keys), back to back. */
function prefixesOf(keys: readonly string[]): Uint8Array {
  const out = Buffer.allocUnsafe(keys.length * ID_PREFIX_BYTES);
  for (let i = 0; i < keys.length; i++) out.write(keys[i]!, i * ID_PREFIX_BYTES, ID_PREFIX_BYTES, 'latin1');
  return out;
}

/**
 * Broadcast with each message delivered (logged, then handed to subscribers)
 * exactly once per node.
 *
 * 'flood' pushes every message to every neighbour but the one it came from.
 * 'tree' is Plumtree (Leitão, Pereira, Rodrigues, SRDS 2007): full messages
 * go eagerly along a spanning tree and only their ids, batched, on the other
 * links. A duplicate prunes its link out of the tree; an announced id whose
 * message does not follow within graftTimeoutMs is requested with a graft,
 * which also takes that link back into the tree, so the tree heals when a
 * node or link goes away. One tree is shared by all origins (docs/protocol.md
 * says why).
 */
export class Gossip implements Protocol {
  readonly name = 'gossip';
  readonly versions: readonly number[];
  readonly envelopes = ['gossip', 'gossipIhave', 'gossipGraft', 'gossipPrune', 'gossipPruneHint', 'gossipTree'] as const;
  readonly stats: GossipStats = emptyStats();
  readonly mode: GossipMode;
  private readonly links = new Map<string, Link>();
  private readonly seen: SeenCache;
  private readonly cache: MessageCache;
  private readonly missing: MissingTable;
  private readonly topics = new TopicCounters();
  private readonly listeners = new Set<(msg: StoredMessage) => void>();
  private readonly cfg: typeof GOSSIP_DEFAULTS;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushAt = Number.POSITIVE_INFINITY;
  private readonly localHex: string;
  private readonly rootTree: RootTree | undefined;
  private lastClosed: { id: string; counters: PeerGossipCounters } | undefined;
  private closed = false;

  /** Message ids in the seen cache. */
  get seenSize(): number {
    return this.seen.size;
  }

  constructor(private readonly opts: GossipOptions) {
    this.cfg = {
      mode: opts.mode ?? GOSSIP_DEFAULTS.mode,
      ihaveFlushMs: opts.ihaveFlushMs ?? GOSSIP_DEFAULTS.ihaveFlushMs,
      ihaveIntervalMs: opts.ihaveIntervalMs ?? GOSSIP_DEFAULTS.ihaveIntervalMs,
      graftTimeoutMs: opts.graftTimeoutMs ?? GOSSIP_DEFAULTS.graftTimeoutMs,
      graftRetryMs: opts.graftRetryMs ?? GOSSIP_DEFAULTS.graftRetryMs,
      cacheEntries: opts.cacheEntries ?? GOSSIP_DEFAULTS.cacheEntries,
      cacheBytes: opts.cacheBytes ?? GOSSIP_DEFAULTS.cacheBytes,
      cacheTtlMs: opts.cacheTtlMs ?? GOSSIP_DEFAULTS.cacheTtlMs,
      missingEntries: opts.missingEntries ?? GOSSIP_DEFAULTS.missingEntries,
      treeBeaconMs: opts.treeBeaconMs ?? GOSSIP_DEFAULTS.treeBeaconMs,
      treeRootTimeoutMs: opts.treeRootTimeoutMs ?? GOSSIP_DEFAULTS.treeRootTimeoutMs,
    };
    this.mode = this.cfg.mode;
    this.localHex = toHex(opts.localId);
    // A flooding node speaks only version 1, so tree peers flood to it too.
    this.versions = this.mode === 'tree' ? [ROOT_VERSION, SHORT_ID_VERSION, HINT_VERSION, TREE_VERSION, 1] : [1];
    if (this.mode === 'tree') {
      this.rootTree = new RootTree({
        localHex: this.localHex,
        beaconMs: this.cfg.treeBeaconMs,
        rootTimeoutMs: this.cfg.treeRootTimeoutMs,
        rttOf: (peerId) => this.links.get(peerId)?.peer.rttMs ?? -1,
        send: (peerId, advert) => this.sendTreeAdvert(peerId, advert),
        onChange: () => this.joinTreeLinks(),
      });
    }
    this.seen = new SeenCache(opts.seenCacheEntries, opts.seenCacheTtlMs);
    this.cache = new MessageCache(this.cfg.cacheEntries, this.cfg.cacheBytes, this.cfg.cacheTtlMs);
    this.missing = new MissingTable({
      maxEntries: this.cfg.missingEntries,
      maxAnnouncers: 8,
      timeoutMs: this.cfg.graftTimeoutMs,
      retryMs: this.cfg.graftRetryMs,
      graft: (peerId, ids) => this.sendGraft(peerId, ids),
      isConnected: (peerId) => this.links.has(peerId),
      onDropped: () => this.stats.missingDropped++,
    });
  }

  onOpen(peer: Peer): void {
    const remote = peer.remoteProtocols.get(this.name) ?? [];
    const rooted = this.mode === 'tree' && remote.includes(ROOT_VERSION);
    const short = rooted || (this.mode === 'tree' && remote.includes(SHORT_ID_VERSION));
    const hints = short || (this.mode === 'tree' && remote.includes(HINT_VERSION));
    const tree = hints || (this.mode === 'tree' && remote.includes(TREE_VERSION));
    // A new link starts in the tree and duplicates prune it; under gossip/5 only while this node
    // has no tree link yet (a joining node), since otherwise the tree reaches us already and the
    // new link would carry a copy of every message until it leaves (a rotating peer: 1 duplicate
    // per message at 40 nodes). The adverts make it a tree link within a round trip if it is one.
    const pair = pairHash(this.localHex, peer.id);
    const eager = !rooted || !this.hasTreeLink();
    const link: Link = { peer, tree, hints, short, rooted, quietUntil: 0, eagerUntil: Date.now() + this.cfg.treeBeaconMs, eager, pending: [], counters: emptyLinkCounters(), pair };
    this.links.set(peer.id, link);
    if (rooted) this.rootTree?.addLink(peer.id);
    if (tree) this.announceRecent(link);
  }

  /**
   * Messages still in flight when a link opens have passed this node before
   * the link existed, so neither a push nor an announcement would reach the
   * peer: a joining node whose first sessions turn over while a message
   * crosses the network missed it (churn at 300 and 1,000 nodes,
   * docs/scale.md). The new link is told the ids of the graft cache (the
   * last few seconds); a peer that has them ignores them, one that does not
   * grafts them.
   */
  private announceRecent(link: Link): void {
    const due = Date.now() + this.cfg.ihaveFlushMs;
    for (const key of this.cache.liveKeys()) link.pending.push({ key, due });
    if (link.pending.length > 0) this.armFlush(due);
  }

  onClose(peer: Peer): void {
    const link = this.links.get(peer.id);
    if (link?.peer !== peer) return;
    this.lastClosed = { id: peer.id, counters: { ...link.counters, eager: link.eager } };
    this.links.delete(peer.id);
    this.cache.forget(peer.id);
    this.rootTree?.removeLink(peer.id);
  }

  /** Stop the timers (the node is stopping). */
  close(): void {
    this.closed = true;
    this.missing.stop();
    this.rootTree?.close();
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushAt = Number.POSITIVE_INFINITY;
  }

  /** Every delivered message, in seq order. */
  onDeliver(listener: (msg: StoredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The counters of the session with `peerId` that closed last, if it was the last to close: the
   * peer layer reports a disconnect right after its protocols' onClose, so that event can carry them.
   */
  closedCounters(peerId: string): PeerGossipCounters | undefined {
    return this.lastClosed?.id === peerId ? this.lastClosed.counters : undefined;
  }

  peerCounters(peerId: string): PeerGossipCounters | undefined {
    const link = this.links.get(peerId);
    return link === undefined ? undefined : { ...link.counters, eager: link.eager };
  }

  topicCounters(): TopicGossipCounters[] {
    return this.topics.list();
  }

  async broadcast(topic: string, payload: Uint8Array): Promise<StoredMessage> {
    if (topicBytes(topic) > MAX_TOPIC_BYTES) {
      throw new PheromonesError('invalid-argument', `topic is ${topicBytes(topic)} bytes; the limit is ${MAX_TOPIC_BYTES}`);
    }
    const timestampMs = BigInt(Date.now());
    const nonce = randomBytes(8).readBigUInt64BE();
    const origin = this.opts.localId;
    const id = computeMessageId({ origin, timestampMs, nonce, topic, payload });
    const msg = create(GossipMessageSchema, { id, topic, ttl: this.opts.ttl, hops: 0, origin, timestampMs, payload, nonce });
    const body = encodeGossip(msg);
    if (body.length > this.opts.maxFrameBytes) {
      throw new PheromonesError('invalid-argument', `message of ${body.length} bytes exceeds the frame limit of ${this.opts.maxFrameBytes}`);
    }
    const key = KEY(id);
    this.seen.add(id);
    const delivered = this.deliver(msg, 0);
    this.relay(key, msg, body, undefined, 0, []);
    const stored = await delivered;
    if (stored === undefined) throw new PheromonesError('internal', 'a fresh broadcast id is already in the message log');
    return stored;
  }

  onMessage(peer: Peer, env: Envelope): Promise<void> | undefined {
    const link = this.links.get(peer.id);
    if (link === undefined || link.peer !== peer) return undefined;
    this.stats.framesReceived++;
    const kind = env.kind;
    switch (kind.case) {
      case 'gossip':
        return this.onGossip(link, kind.value);
      case 'gossipIhave':
        this.requireTree(link, 'announcement');
        this.onIHave(link, idsOf(kind.value, link.short, 'announcement'));
        return undefined;
      case 'gossipGraft':
        this.requireTree(link, 'graft');
        this.onGraft(link, idsOf(kind.value, link.short, 'graft'));
        return undefined;
      case 'gossipPrune':
        this.requireTree(link, 'prune');
        link.counters.prunesReceived++;
        this.stats.prunesReceived++;
        link.eager = false;
        return undefined;
      case 'gossipTree':
        if (!link.rooted) throw new PheromonesError('protocol-violation', 'gossip tree advert on a session without gossip/5');
        this.onTreeAdvert(link, kind.value);
        return undefined;
      case 'gossipPruneHint': {
        if (!link.hints) throw new PheromonesError('protocol-violation', 'gossip prune hint on a session without gossip/3');
        const { id, weight } = kind.value;
        if (id.length !== 32) throw new PheromonesError('protocol-violation', `prune hint id of ${id.length} bytes`);
        const entry = this.cache.get(KEY(id));
        if (entry !== undefined) this.takeHint(id, entry, weight);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /** Where this node is in the rooted tree (gossip/5), or undefined when flooding. */
  treeState(): (RootTreeState & { rootChanges: number; parentChanges: number }) | undefined {
    const t = this.rootTree;
    return t === undefined ? undefined : { ...t.state(), rootChanges: t.rootChanges, parentChanges: t.parentChanges };
  }

  /** The link's weight now (its round trip is measured again at every ping). */
  private weightOf(link: Link): number {
    if (!link.rooted || this.rootTree === undefined) return linkWeight(link.peer.rttMs, link.pair);
    return rootedLinkWeight(link.peer.rttMs, link.pair, this.rootTree.isTreeLink(link.peer.id));
  }

  /**
   * Links of the rooted tree push eagerly. A link outside it (a new one, a
   * former tree link, a grafted repair) keeps pushing for one more beacon
   * period, so a node between two parents is never cut off, and then only
   * announces: the mesh becomes the tree before any message has to prune it
   * (docs/scale.md measured those prunes at 0.12 of the amplification).
   * Duplicates still prune through the cycle rule meanwhile.
   */
  private joinTreeLinks(): void {
    const tree = this.rootTree;
    if (tree === undefined) return;
    const now = Date.now();
    for (const link of this.links.values()) {
      if (!link.rooted) continue;
      if (tree.isTreeLink(link.peer.id)) {
        link.eager = true;
        link.eagerUntil = now + this.cfg.treeBeaconMs;
      } else if (link.eager && now >= link.eagerUntil) {
        link.eager = false;
        this.stats.treeLinksLeft++;
      }
    }
  }

  private hasTreeLink(): boolean {
    const tree = this.rootTree;
    if (tree === undefined) return false;
    for (const link of this.links.values()) if (link.rooted && tree.isTreeLink(link.peer.id)) return true;
    return false;
  }

  private sendTreeAdvert(peerId: string, advert: TreeAdvert): void {
    const link = this.links.get(peerId);
    if (link === undefined) return;
    const value = create(GossipTreeSchema, { root: Buffer.from(advert.root, 'hex'), seq: BigInt(advert.seq), distanceMs: advert.distanceMs, parent: advert.parent });
    if (this.send(link, encode({ case: 'gossipTree', value }))) {
      link.counters.treeAdvertsSent++;
      this.stats.treeAdvertsSent++;
    }
  }

  private onTreeAdvert(link: Link, value: { root: Uint8Array; seq: bigint; distanceMs: number; parent: boolean }): void {
    if (value.root.length !== 32) throw new PheromonesError('protocol-violation', `gossip tree root of ${value.root.length} bytes`);
    if (value.seq > BigInt(Number.MAX_SAFE_INTEGER)) throw new PheromonesError('protocol-violation', `gossip tree stamp ${value.seq} out of range`);
    link.counters.treeAdvertsReceived++;
    this.stats.treeAdvertsReceived++;
    this.rootTree?.onAdvert(link.peer.id, { root: toHex(value.root), seq: Number(value.seq), distanceMs: value.distanceMs, parent: value.parent });
  }

  /** Tree control messages from a peer that did not agree to gossip/2 (or to a flooding node) break the protocol. */
  private prune(link: Link): void {
    link.eager = false;
    link.counters.prunesSent++;
    this.stats.prunesSent++;
    this.send(link, encode({ case: 'gossipPrune', value: create(GossipPruneSchema) }));
  }

  /**
   * The heaviest link of a cycle has weight `weight` and lies on the path
   * message `id` came by: prune it if it is the link our first copy came on,
   * else pass the hint to the peer that copy came from.
   */
  private takeHint(id: Uint8Array, entry: CachedMessage, weight: number): void {
    if (entry.hints >= MAX_HINTS_PER_MESSAGE || entry.from === undefined) return;
    entry.hints++;
    const up = this.links.get(entry.from);
    if (up === undefined || !up.tree) return;
    if (entry.fromWeight === weight) {
      if (up.eager) this.prune(up);
    } else if (up.hints && entry.path.includes(weight)) {
      this.stats.pruneHintsSent++;
      this.send(up, encode({ case: 'gossipPruneHint', value: create(GossipPruneHintSchema, { id, weight }) }));
    }
  }

  private requireTree(link: Link, what: string): void {
    if (!link.tree) throw new PheromonesError('protocol-violation', `gossip ${what} on a gossip/1 session`);
  }

  private onGossip(link: Link, msg: GossipMessage): Promise<void> | undefined {
    link.counters.payloadsReceived++;
    this.stats.payloadsReceived++;
    // A gossip/5 peer leaves the id out: it is the hash of the content, which is checked anyway.
    const idComputed = msg.id.length === 0 && link.rooted;
    if (idComputed) msg.id = computeMessageId(msg);
    if (msg.id.length !== 32) throw new PheromonesError('protocol-violation', `gossip id of ${msg.id.length} bytes`);
    if (msg.pathWeights.length > PATH_WEIGHTS) {
      throw new PheromonesError('protocol-violation', `gossip path of ${msg.pathWeights.length} weights`);
    }
    const key = KEY(msg.id);
    // Most frames are copies of a message already handled: the cheap check
    // comes first. Only a validated message enters the cache, so a forgery
    // carrying a real id cannot shadow the genuine message.
    if (this.seen.has(msg.id)) {
      link.counters.duplicates++;
      this.stats.duplicates++;
      this.topics.get(this.cache.get(key)?.topic ?? (topicBytes(msg.topic) <= MAX_TOPIC_BYTES ? msg.topic : OTHER_TOPICS)).duplicates++;
      // A second copy shows a cycle; its heaviest link leaves the tree
      // (link-weight.ts). When that is a link of our first copy's path, where
      // it never carries a duplicate, a hint goes up that path to its end.
      const first = this.cache.get(key);
      // A copy on a link lazy at our end (a first copy crossed our prune and made it eager at the peer's
      // end) is only counted: answering it with a prune added frames on the 6-node mesh test beyond its
      // bound (docs/scale.md), and at 1,000 nodes it did not lower the duplicates.
      if (link.tree && !link.eager) this.stats.duplicatesOnLazy++;
      else if (link.tree && first !== undefined) {
        const heaviest = heaviestOfCycle(this.weightOf(link), first.path, msg.pathWeights);
        if (heaviest === undefined) this.stats.duplicatesUndecided++;
        else if (heaviest.on === 'link') this.prune(link);
        else if (heaviest.on === 'first') this.takeHint(msg.id, first, heaviest.weight);
      }
      return undefined;
    }
    this.validate(msg, idComputed);
    this.seen.add(msg.id);
    const wasMissing = this.missing.resolve(key, link.peer.id);
    if (wasMissing?.grafted === true) this.stats.recovered++;
    const topic = this.topics.get(msg.topic);
    topic.payloadsReceived++;
    // The first copy came this way: this link is our branch of the tree.
    link.eager = true;
    const ageMs = Date.now() - Number(msg.timestampMs);
    if (Math.abs(ageMs) > this.opts.seenCacheTtlMs) {
      // Outside the window the seen cache covers, so it could come round again.
      this.stats.stale++;
      return undefined;
    }
    const hops = msg.hops + 1;
    if (msg.ttl > 0) {
      const ttl = Math.min(msg.ttl, this.opts.ttl) - 1;
      const path = withWeight(msg.pathWeights, this.weightOf(link));
      // The decoded message is ours: advance it in place rather than copy a 1 KiB payload into a new one.
      msg.ttl = ttl;
      msg.hops = hops;
      msg.pathWeights = path;
      this.relay(key, msg, undefined, link, hops, path, wasMissing?.announcers);
    }
    return this.deliver(msg, hops).then(() => undefined);
  }

  /**
   * Push `msg` (its relay form) to the tree (to everyone when flooding), announce it on the other
   * links. `full` is its encoding with the id when already made.
   */
  private relay(key: string, msg: GossipMessage, full: Uint8Array | undefined, from: Link | undefined, hops: number, path: number[], announcers: string[] = []): void {
    const counters = this.topics.get(msg.topic);
    let body = full;
    let bare: Uint8Array | undefined;
    // Both ends of a lazy link usually hold the message: only one needs to
    // announce it. The end nearer the origin (fewer hops) announces first and
    // the other, hearing that announcement before its own is due, leaves the
    // id out; on equal hops the lower node id goes first.
    const flushMs = this.cfg.ihaveFlushMs;
    const delay = flushMs * (1 + Math.min(hops, MAX_DELAY_HOPS));
    const now = Date.now();
    let firstDue = Number.POSITIVE_INFINITY;
    for (const link of this.links.values()) {
      if (link === from) continue;
      if (link.eager || !link.tree) {
        const out = link.rooted ? (bare ??= encodeBare(msg)) : (body ??= encodeGossip(msg));
        if (this.send(link, out)) {
          link.counters.payloadsSent++;
          this.stats.payloadsSent++;
          counters.payloadsSent++;
        }
      } else {
        const due = now + delay + (link.peer.id < this.localHex ? flushMs / 2 : 0);
        link.pending.push({ key, due });
        firstDue = Math.min(firstDue, due);
        if (link.pending.length >= MAX_IDS_PER_FRAME) this.flushLink(link, Number.POSITIVE_INFINITY);
      }
    }
    if (this.mode === 'tree') {
      const knownBy = [...announcers];
      if (from !== undefined && !knownBy.includes(from.peer.id)) knownBy.push(from.peer.id);
      if (body === undefined && bare === undefined) bare = encodeBare(msg);
      // The id is copied: a received one is a view into its whole record.
      this.cache.add(key, { id: new Uint8Array(msg.id), body, bare, topic: msg.topic, knownBy, path, from: from?.peer.id, fromWeight: from === undefined ? 0 : this.weightOf(from), hints: 0 });
    }
    if (firstDue !== Number.POSITIVE_INFINITY) this.armFlush(firstDue);
  }

  private armFlush(due: number): void {
    if (this.closed || due >= this.flushAt) return;
    clearTimeout(this.flushTimer);
    this.flushAt = due;
    this.flushTimer = setTimeout(() => this.flushDue(), Math.max(0, due - Date.now()));
    this.flushTimer.unref?.();
  }

  /** Announce what is due, plus what would be due within half a flush period (fewer, fuller frames). */
  private flushDue(): void {
    this.flushTimer = undefined;
    this.flushAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const until = now + this.cfg.ihaveFlushMs / 2;
    let next = Number.POSITIVE_INFINITY;
    for (const link of this.links.values()) {
      if (link.quietUntil > now) {
        if (link.pending.length > 0) next = Math.min(next, link.quietUntil);
        continue;
      }
      this.flushLink(link, until);
      for (const p of link.pending) next = Math.min(next, p.due);
    }
    if (next !== Number.POSITIVE_INFINITY) this.armFlush(next);
  }

  /** Send the announcements of one link due by `until`, leaving out ids the peer is known to hold. */
  private flushLink(link: Link, until: number): void {
    if (link.pending.length === 0) return;
    const keys: string[] = [];
    const ids: Uint8Array[] = [];
    const later: PendingId[] = [];
    for (const p of link.pending) {
      if (p.due > until) {
        later.push(p);
        continue;
      }
      // A message gone from the graft cache could not be sent to a peer that asks for it.
      const entry = this.cache.get(p.key);
      if (entry === undefined || entry.knownBy.includes(link.peer.id)) continue;
      if (link.short) keys.push(p.key);
      else ids.push(entry.id);
      this.topics.get(entry.topic).ihaveSent++;
    }
    link.pending = later;
    const count = keys.length + ids.length;
    if (count === 0) return;
    link.quietUntil = Date.now() + this.cfg.ihaveIntervalMs;
    for (let at = 0; at < count; at += MAX_IDS_PER_FRAME) {
      const value = link.short
        ? create(GossipIHaveSchema, { idPrefixes: prefixesOf(keys.slice(at, at + MAX_IDS_PER_FRAME)) })
        : create(GossipIHaveSchema, { ids: ids.slice(at, at + MAX_IDS_PER_FRAME) });
      const n = Math.min(MAX_IDS_PER_FRAME, count - at);
      if (this.send(link, encode({ case: 'gossipIhave', value }))) {
        link.counters.ihaveSent += n;
        this.stats.ihaveSent += n;
      }
    }
  }

  private onIHave(link: Link, ids: Uint8Array[]): void {
    link.counters.ihaveReceived += ids.length;
    this.stats.ihaveReceived += ids.length;
    for (const id of ids) {
      if (this.seen.has(id)) {
        // Only an announcement still queued for this link can be left out.
        if (link.pending.length === 0) continue;
        const known = this.cache.get(KEY(id))?.knownBy;
        if (known !== undefined && !known.includes(link.peer.id)) known.push(link.peer.id);
        continue;
      }
      const key = KEY(id);
      this.missing.announce(key, id, link.peer.id);
    }
  }

  private sendGraft(peerId: string, ids: Uint8Array[]): void {
    const link = this.links.get(peerId);
    if (link === undefined) return;
    // The link we ask the message from becomes our branch of the tree.
    link.eager = true;
    link.eagerUntil = Date.now() + this.cfg.treeBeaconMs;
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_FRAME) {
      const chunk = ids.slice(i, i + MAX_IDS_PER_FRAME);
      // A gossip/3 peer is only asked for what it announced, so by the full ids it sent.
      const value = link.short
        ? create(GossipGraftSchema, { idPrefixes: Buffer.concat(chunk.map((id) => id.subarray(0, ID_PREFIX_BYTES))) })
        : create(GossipGraftSchema, { ids: chunk.filter((id) => id.length === 32) });
      if (this.send(link, encode({ case: 'gossipGraft', value }))) {
        link.counters.graftsSent++;
        this.stats.graftsSent++;
      }
    }
  }

  private onGraft(link: Link, ids: Uint8Array[]): void {
    link.counters.graftsReceived++;
    this.stats.graftsReceived++;
    link.eager = true;
    link.eagerUntil = Date.now() + this.cfg.treeBeaconMs;
    for (const id of ids) {
      const entry = this.cache.get(KEY(id));
      if (entry === undefined) continue;
      if (this.send(link, cachedBody(entry, link.rooted))) {
        link.counters.payloadsSent++;
        this.stats.payloadsSent++;
        this.topics.get(entry.topic).payloadsSent++;
      }
    }
  }

  /** Hostile input: a bad id means the frame was forged or corrupted. */
  private validate(msg: GossipMessage, idComputed = false): void {
    if (msg.id.length !== 32) throw new PheromonesError('protocol-violation', `gossip id of ${msg.id.length} bytes`);
    if (msg.origin.length !== 32) throw new PheromonesError('protocol-violation', `gossip origin of ${msg.origin.length} bytes`);
    if (topicBytes(msg.topic) > MAX_TOPIC_BYTES) {
      throw new PheromonesError('protocol-violation', `gossip topic of ${topicBytes(msg.topic)} bytes`);
    }
    if (msg.hops >= MAX_HOPS) throw new PheromonesError('protocol-violation', `gossip hops ${msg.hops}`);
    if (idComputed) return;
    const id = computeMessageId(msg);
    if (Buffer.compare(id, msg.id) !== 0) throw new PheromonesError('protocol-violation', 'gossip id does not match its content');
  }

  private send(link: Link, body: Uint8Array): boolean {
    try {
      if (link.peer.sendEncoded(body, this.name)) {
        this.stats.framesSent++;
        return true;
      }
    } catch (err) {
      this.opts.logger.warn({ peer: link.peer.id, err: (err as Error).message }, 'gossip frame not sent');
    }
    return false;
  }

  private async deliver(msg: GossipMessage, hops: number): Promise<StoredMessage | undefined> {
    let stored: StoredMessage | undefined;
    try {
      // Views into the received record: the log copies them into its own.
      stored = await this.opts.log.append({
        id: msg.id,
        topic: msg.topic,
        origin: toHex(msg.origin),
        hops,
        timestampMs: Number(msg.timestampMs),
        receivedAtMs: Date.now(),
        payload: msg.payload,
      });
    } catch (err) {
      this.opts.logger.error({ err, id: toHex(msg.id) }, 'could not log a gossip message');
      throw err;
    }
    if (stored === undefined) return undefined;
    this.stats.delivered++;
    this.topics.get(stored.topic).delivered++;
    for (const l of this.listeners) {
      try {
        l(stored);
      } catch (err) {
        this.opts.logger.error({ err }, 'message listener threw');
      }
    }
    return stored;
  }
}
