import type { NodeService } from '../../gen/pheromones/admin/v1/node_pb.js';
import type { NodeApi } from '../../node/types.js';
import { countersToApi } from '../convert.js';
import type { ImplOf } from '../grpc-adapter.js';

export function nodeService(node: NodeApi, grpcAddress: () => string): ImplOf<typeof NodeService> {
  return {
    async getInfo() {
      const info = await node.info();
      return {
        nodeId: info.nodeId,
        version: info.version,
        network: info.network,
        networkId: info.networkId,
        listenAddress: info.listenAddress,
        observedAddresses: [...info.observedAddresses],
        advertisedAddresses: [...info.advertisedAddresses],
        nat: info.nat === undefined ? undefined : { ...info.nat, expiresAtMs: BigInt(Math.trunc(info.nat.expiresAtMs)) },
        // The node only knows the configured address; port 0 resolves here.
        grpcAddress: grpcAddress(),
        startedAtMs: BigInt(Math.trunc(info.startedAtMs)),
        uptimeMs: BigInt(Math.trunc(info.uptimeMs)),
        peersInbound: info.peersInbound,
        peersOutbound: info.peersOutbound,
        messageLogSize: BigInt(info.messageLogSize),
        gossip:
          info.gossip === undefined
            ? undefined
            : {
                mode: info.gossip.mode,
                ...countersToApi(info.gossip.totals),
                ...(info.gossip.tree && {
                  treeRoot: info.gossip.tree.root,
                  treeDistanceMs: info.gossip.tree.distanceMs,
                  treeParent: info.gossip.tree.parent ?? '',
                  treeRootChanges: BigInt(info.gossip.tree.rootChanges),
                  treeParentChanges: BigInt(info.gossip.tree.parentChanges),
                }),
              },
        gossipTopics: info.gossip?.topics.map((t) => countersToApi(t)) ?? [],
      };
    },
  };
}
