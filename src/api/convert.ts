/** NodeApi values → API messages (the init shapes protobuf-es accepts). */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { toHex } from '../crypto/hash.js';
import type { DirectMessage, DisconnectCause, PeerInfo, StoredMessage } from '../node/types.js';
import { PeerDirection, PeerDisconnectReason, type PeerSchema } from '../gen/pheromones/admin/v1/peer_pb.js';
import type { DirectMessageSchema, MessageSchema } from '../gen/pheromones/admin/v1/message_pb.js';

export function peerToApi(p: PeerInfo): MessageInitShape<typeof PeerSchema> {
  return {
    nodeId: p.nodeId,
    address: p.address,
    listenAddress: p.listenAddress,
    direction: p.direction === 'inbound' ? PeerDirection.INBOUND : PeerDirection.OUTBOUND,
    connectedSinceMs: BigInt(Math.trunc(p.connectedSinceMs)),
    rttMs: BigInt(Math.trunc(p.rttMs)),
    bytesIn: BigInt(p.bytesIn),
    bytesOut: BigInt(p.bytesOut),
    messagesIn: BigInt(p.messagesIn),
    messagesOut: BigInt(p.messagesOut),
    protocols: [...p.protocols],
    userAgent: p.userAgent,
    persistent: p.persistent,
    gossip: p.gossip === undefined ? undefined : countersToApi(p.gossip),
    traffic: p.traffic.map((t) => countersToApi(t)),
  };
}

/** Every number field as uint64, other fields as they are. */
export function countersToApi<T extends object>(c: T): { [K in keyof T]: T[K] extends number ? bigint : T[K] } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) out[k] = typeof v === 'number' ? BigInt(Math.trunc(v)) : v;
  return out as { [K in keyof T]: T[K] extends number ? bigint : T[K] };
}

const REASONS: Record<DisconnectCause, PeerDisconnectReason> = {
  requested: PeerDisconnectReason.REQUESTED,
  duplicate: PeerDisconnectReason.DUPLICATE,
  self: PeerDisconnectReason.SELF,
  'wrong-network': PeerDisconnectReason.WRONG_NETWORK,
  'incompatible-version': PeerDisconnectReason.INCOMPATIBLE_VERSION,
  'handshake-failed': PeerDisconnectReason.HANDSHAKE_FAILED,
  'protocol-violation': PeerDisconnectReason.PROTOCOL_VIOLATION,
  timeout: PeerDisconnectReason.TIMEOUT,
  'too-many-peers': PeerDisconnectReason.TOO_MANY_PEERS,
  'slow-reader': PeerDisconnectReason.SLOW_READER,
  banned: PeerDisconnectReason.BANNED,
  'corrupt-record': PeerDisconnectReason.CORRUPT_RECORD,
  'connection-lost': PeerDisconnectReason.CONNECTION_LOST,
};

export function reasonToApi(reason: DisconnectCause): PeerDisconnectReason {
  return REASONS[reason] ?? PeerDisconnectReason.UNSPECIFIED;
}

export function messageToApi(m: StoredMessage): MessageInitShape<typeof MessageSchema> {
  return {
    seq: m.seq,
    id: toHex(m.id),
    topic: m.topic,
    origin: m.origin,
    hops: m.hops,
    timestampMs: BigInt(Math.trunc(m.timestampMs)),
    receivedAtMs: BigInt(Math.trunc(m.receivedAtMs)),
    payload: m.payload,
  };
}

export function directToApi(m: DirectMessage): MessageInitShape<typeof DirectMessageSchema> {
  return { from: m.from, topic: m.topic, payload: m.payload, receivedAtMs: BigInt(Math.trunc(m.receivedAtMs)) };
}
