import { PeerEventType, PeerDisconnectReason, type PeerService } from '../../gen/pheromones/admin/v1/peer_pb.js';
import type { NodeApi, PeerEvent } from '../../node/types.js';
import { BoundedQueue } from '../bounded-queue.js';
import type { ImplOf } from '../grpc-adapter.js';
import { peerToApi, reasonToApi } from '../convert.js';
import { invalidArgument } from '../status.js';
import * as check from '../validate.js';

const DEFAULT_ADD_TIMEOUT_MS = 10_000;
const MAX_ADD_TIMEOUT_MS = 120_000;

export function peerService(node: NodeApi, opts: { streamBuffer: number }): ImplOf<typeof PeerService> {
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
        for await (const ev of queue) {
          yield ev.type === 'connected'
            ? { type: PeerEventType.CONNECTED, peer: peerToApi(ev.peer), reason: PeerDisconnectReason.UNSPECIFIED }
            : { type: PeerEventType.DISCONNECTED, peer: peerToApi(ev.peer), reason: reasonToApi(ev.reason), detail: ev.detail };
        }
      } finally {
        off();
      }
    },
  };
}
