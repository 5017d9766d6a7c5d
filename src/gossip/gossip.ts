import { randomBytes } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import { EnvelopeSchema, GossipMessageSchema, type Envelope, type GossipMessage } from '../gen/pheromones/wire/v1/wire_pb.js';
import type { StoredMessage } from '../node/types.js';
import type { Peer } from '../peer/peer.js';
import type { Protocol } from '../peer/protocol.js';
import type { MessageLog } from '../store/message-log.js';
import { computeMessageId } from './message-id.js';
import { SeenCache } from './seen-cache.js';

/** Longest topic accepted, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

/** No real path is this long; the bound keeps hops + 1 a valid uint32. */
const MAX_HOPS = 0xffff;

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
}

/** What gossip did, for tests and benchmarks. */
export interface GossipStats {
  /** Gossip frames handed to peers (broadcasts and relays). */
  framesSent: number;
  /** Gossip frames received. */
  framesReceived: number;
  /** Received frames for a message already seen. */
  duplicates: number;
  /** Received frames dropped for a timestamp outside the seen window. */
  stale: number;
  /** Messages delivered (logged) locally, own broadcasts included. */
  delivered: number;
}

const HEX = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function encodeGossip(msg: GossipMessage): Uint8Array {
  return toBinary(EnvelopeSchema, create(EnvelopeSchema, { kind: { case: 'gossip', value: msg } }));
}

export function topicBytes(topic: string): number {
  return Buffer.byteLength(topic, 'utf8');
}

/**
 * Flooding broadcast with duplicate suppression: every message is delivered
 * (logged, then handed to subscribers) once per node and forwarded once to
 * every neighbour but the one it came from, so a message crosses each link
 * at most once in each direction, cycles included.
 */
export class Gossip implements Protocol {
  readonly name = 'gossip';
  readonly versions = [1] as const;
  readonly envelopes = ['gossip'] as const;
  readonly stats: GossipStats = { framesSent: 0, framesReceived: 0, duplicates: 0, stale: 0, delivered: 0 };
  private readonly peers = new Set<Peer>();
  private readonly seen: SeenCache;
  private readonly listeners = new Set<(msg: StoredMessage) => void>();

  constructor(private readonly opts: GossipOptions) {
    this.seen = new SeenCache(opts.seenCacheEntries, opts.seenCacheTtlMs);
  }

  onOpen(peer: Peer): void {
    this.peers.add(peer);
  }

  onClose(peer: Peer): void {
    this.peers.delete(peer);
  }

  /** Every delivered message, in seq order. */
  onDeliver(listener: (msg: StoredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
    this.seen.add(HEX(id));
    const delivered = this.deliver(msg, 0);
    this.sendToAll(body, undefined);
    const stored = await delivered;
    if (stored === undefined) throw new PheromonesError('internal', 'a fresh broadcast id is already in the message log');
    return stored;
  }

  onMessage(peer: Peer, env: Envelope): Promise<void> | undefined {
    if (env.kind.case !== 'gossip') return undefined;
    const msg = env.kind.value;
    this.stats.framesReceived++;
    if (msg.id.length !== 32) throw new PheromonesError('protocol-violation', `gossip id of ${msg.id.length} bytes`);
    const key = HEX(msg.id);
    // Most frames are copies of a message already handled: the cheap check
    // comes first. Only a validated message enters the cache, so a forgery
    // carrying a real id cannot shadow the genuine message.
    if (this.seen.has(key)) {
      this.stats.duplicates++;
      return undefined;
    }
    this.validate(msg);
    this.seen.add(key);
    const ageMs = Date.now() - Number(msg.timestampMs);
    if (Math.abs(ageMs) > this.opts.seenCacheTtlMs) {
      // Outside the window the seen cache covers, so it could come round again.
      this.stats.stale++;
      return undefined;
    }
    const hops = msg.hops + 1;
    if (msg.ttl > 0) {
      const ttl = Math.min(msg.ttl, this.opts.ttl) - 1;
      this.sendToAll(encodeGossip(create(GossipMessageSchema, { ...msg, ttl, hops })), peer);
    }
    return this.deliver(msg, hops).then(() => undefined);
  }

  /** Hostile input: a bad id means the frame was forged or corrupted. */
  private validate(msg: GossipMessage): void {
    if (msg.id.length !== 32) throw new PheromonesError('protocol-violation', `gossip id of ${msg.id.length} bytes`);
    if (msg.origin.length !== 32) throw new PheromonesError('protocol-violation', `gossip origin of ${msg.origin.length} bytes`);
    if (topicBytes(msg.topic) > MAX_TOPIC_BYTES) {
      throw new PheromonesError('protocol-violation', `gossip topic of ${topicBytes(msg.topic)} bytes`);
    }
    if (msg.hops >= MAX_HOPS) throw new PheromonesError('protocol-violation', `gossip hops ${msg.hops}`);
    const id = computeMessageId(msg);
    if (Buffer.compare(id, msg.id) !== 0) throw new PheromonesError('protocol-violation', 'gossip id does not match its content');
  }

  /** One encoding, sent to every gossip peer except `from`. */
  private sendToAll(body: Uint8Array, from: Peer | undefined): void {
    for (const peer of this.peers) {
      if (peer === from || peer.id === from?.id) continue;
      try {
        if (peer.sendEncoded(body)) this.stats.framesSent++;
      } catch (err) {
        this.opts.logger.warn({ peer: peer.id, err: (err as Error).message }, 'gossip frame not sent');
      }
    }
  }

  private async deliver(msg: GossipMessage, hops: number): Promise<StoredMessage | undefined> {
    let stored: StoredMessage | undefined;
    try {
      // Copies: a decoded field is a view into the whole received record.
      stored = await this.opts.log.append({
        id: Uint8Array.from(msg.id),
        topic: msg.topic,
        origin: HEX(msg.origin),
        hops,
        timestampMs: Number(msg.timestampMs),
        receivedAtMs: Date.now(),
        payload: Uint8Array.from(msg.payload),
      });
    } catch (err) {
      this.opts.logger.error({ err, id: HEX(msg.id) }, 'could not log a gossip message');
      throw err;
    }
    if (stored === undefined) return undefined;
    this.stats.delivered++;
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
