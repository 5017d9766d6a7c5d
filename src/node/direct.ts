import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import { DirectSchema, type Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import { MAX_TOPIC_BYTES, topicBytes } from '../gossip/gossip.js';
import { envelope, type Peer } from '../peer/peer.js';
import type { Protocol } from '../peer/protocol.js';
import type { DirectMessage } from './types.js';

/** One-hop messages to a single peer: not relayed, not logged. */
export class DirectProtocol implements Protocol {
  readonly name = 'direct';
  readonly versions = [1] as const;
  readonly envelopes = ['direct'] as const;
  private readonly listeners = new Set<(msg: DirectMessage) => void>();

  constructor(private readonly logger: Logger) {}

  onDirect(listener: (msg: DirectMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(peer: Peer, topic: string, payload: Uint8Array): void {
    if (topicBytes(topic) > MAX_TOPIC_BYTES) {
      throw new PheromonesError('invalid-argument', `topic is ${topicBytes(topic)} bytes; the limit is ${MAX_TOPIC_BYTES}`);
    }
    if (!peer.open.has(this.name)) throw new PheromonesError('failed-precondition', `peer ${peer.id} does not speak ${this.name}`);
    if (!peer.send(envelope({ case: 'direct', value: create(DirectSchema, { topic, payload }) }))) {
      throw new PheromonesError('not-found', `peer ${peer.id} disconnected`);
    }
  }

  onMessage(peer: Peer, env: Envelope): void {
    if (env.kind.case !== 'direct') return;
    const { topic, payload } = env.kind.value;
    if (topicBytes(topic) > MAX_TOPIC_BYTES) throw new PheromonesError('protocol-violation', `direct topic of ${topicBytes(topic)} bytes`);
    const msg: DirectMessage = { from: peer.id, topic, payload, receivedAtMs: Date.now() };
    for (const l of this.listeners) {
      try {
        l(msg);
      } catch (err) {
        this.logger.error({ err }, 'direct listener threw');
      }
    }
  }
}
