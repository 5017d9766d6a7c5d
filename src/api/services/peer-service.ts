import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  KnownPeerSource,
  PeerDisconnectReason,
  PeerEventType,
  type BanSchema,
  type KnownPeerSchema,
  type PeerService,
  type SubscribePeerEventsResponseSchema,
} from '../../gen/pheromones/admin/v1/peer_pb.js';
import { PheromonesError } from '../../errors.js';
import type { Ban, DiscoveryApi, KnownPeer, NodeApi, PeerEvent } from '../../node/types.js';
import { BoundedQueue } from '../bounded-queue.js';
import type { ImplOf } from '../grpc-adapter.js';
import { peerToApi, reasonToApi } from '../convert.js';
import { invalidArgument } from '../status.js';
import * as check from '../validate.js';

const DEFAULT_ADD_TIMEOUT_MS = 10_000;
const MAX_ADD_TIMEOUT_MS = 120_000;
const DEFAULT_FIND_TIMEOUT_MS = 10_000;
const MAX_FIND_TIMEOUT_MS = 60_000;
const MAX_BAN_REASON = 256;

function banToApi(b: Ban): MessageInitShape<typeof BanSchema> {
  return { target: b.target, reason: b.reason, createdAtMs: BigInt(Math.trunc(b.createdAtMs)), expiresAtMs: BigInt(Math.trunc(b.expiresAtMs)) };
}

const SOURCES: Record<KnownPeer['source'], KnownPeerSource> = {
  seed: KnownPeerSource.SEED,
  exchange: KnownPeerSource.EXCHANGE,
  dht: KnownPeerSource.DHT,
  inbound: KnownPeerSource.INBOUND,
  manual: KnownPeerSource.MANUAL,
};

function knownToApi(k: KnownPeer): MessageInitShape<typeof KnownPeerSchema> {
  return {
    address: k.address,
    nodeId: k.nodeId,
    source: SOURCES[k.source] ?? KnownPeerSource.UNSPECIFIED,
    firstSeenMs: BigInt(Math.trunc(k.firstSeenMs)),
    lastSeenMs: BigInt(Math.trunc(k.lastSeenMs)),
    lastAttemptMs: BigInt(Math.trunc(k.lastAttemptMs)),
    lastSuccessMs: BigInt(Math.trunc(k.lastSuccessMs)),
    failures: k.failures,
  };
}

function eventToApi(ev: PeerEvent): MessageInitShape<typeof SubscribePeerEventsResponseSchema> {
  switch (ev.type) {
    case 'connected':
      return { type: PeerEventType.CONNECTED, peer: peerToApi(ev.peer), reason: PeerDisconnectReason.UNSPECIFIED };
    case 'disconnected':
      return { type: PeerEventType.DISCONNECTED, peer: peerToApi(ev.peer), reason: reasonToApi(ev.reason), detail: ev.detail };
    case 'banned':
      return { type: PeerEventType.BANNED, reason: PeerDisconnectReason.BANNED, detail: ev.ban.reason, ban: banToApi(ev.ban) };
  }
}

export function peerService(node: NodeApi, opts: { streamBuffer: number }): ImplOf<typeof PeerService> {
  const discovery = (): DiscoveryApi => {
    if (node.discovery === undefined) throw new PheromonesError('failed-precondition', 'this node does not run discovery');
    return node.discovery;
  };
  return {
    async addPeer(req) {
      const address = check.address('address', req.address);
      if (req.timeoutMs > MAX_ADD_TIMEOUT_MS) throw invalidArgument('timeout_ms', `at most ${MAX_ADD_TIMEOUT_MS}`);
      const peer = await node.addPeer(address, {
        persistent: req.persistent,
        timeoutMs: req.timeoutMs === 0 ? DEFAULT_ADD_TIMEOUT_MS : req.timeoutMs,
      });
      return { peer: peerToApi(peer) };
    },

    async removePeer(req) {
      const target = req.peer.trim();
      if (target === '') throw invalidArgument('peer', 'required (node id or host:port)');
      // A node id is taken as-is; anything else must at least parse as an address.
      const idOrAddress = /^[0-9a-fA-F]{64}$/.test(target) ? target.toLowerCase() : check.address('peer', target);
      return { peer: peerToApi(await node.removePeer(idOrAddress)) };
    },

    async listPeers() {
      return { peers: node.listPeers().map(peerToApi) };
    },

    async *subscribePeerEvents(_req, ctx) {
      const queue = new BoundedQueue<PeerEvent>(opts.streamBuffer, ctx.signal);
      const off = node.onPeerEvent((ev) => queue.push(ev));
      try {
        for await (const ev of queue) yield eventToApi(ev);
      } finally {
        off();
      }
    },

    async banPeer(req) {
      const target = req.target.trim();
      if (target === '') throw invalidArgument('target', 'required (node id, host:port or host)');
      if (req.reason.length > MAX_BAN_REASON) throw invalidArgument('reason', `longer than ${MAX_BAN_REASON} characters`);
      if (req.durationMs > BigInt(Number.MAX_SAFE_INTEGER) / 2n) throw invalidArgument('duration_ms', 'too large');
      const ban = await discovery().ban(target, Number(req.durationMs), req.reason || 'banned by the operator');
      return { ban: banToApi(ban) };
    },

    async unbanPeer(req) {
      const target = req.target.trim();
      if (target === '') throw invalidArgument('target', 'required (as listed by ListBans)');
      return { ban: banToApi(await discovery().unban(target)) };
    },

    async listBans() {
      return { bans: discovery().bans().map(banToApi) };
    },

    async findNode(req) {
      const nodeId = check.hexId('node_id', req.nodeId);
      if (req.timeoutMs > MAX_FIND_TIMEOUT_MS) throw invalidArgument('timeout_ms', `at most ${MAX_FIND_TIMEOUT_MS}`);
      const r = await discovery().findNode(nodeId, req.timeoutMs === 0 ? DEFAULT_FIND_TIMEOUT_MS : req.timeoutMs);
      return { nodeId: r.nodeId, address: r.address, queried: r.queried, elapsedMs: r.elapsedMs };
    },

    async listKnownPeers() {
      return { peers: discovery().knownPeers().map(knownToApi) };
    },
  };
}
