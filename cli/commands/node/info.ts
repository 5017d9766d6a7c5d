import { GetInfoResponseSchema, NodeService, type NatStatus } from '../../../src/gen/pheromones/admin/v1/node_pb.js';
import { BaseCommand } from '../../base-command.js';
import { duration, table } from '../../format.js';

export default class NodeInfo extends BaseCommand {
  static override summary = 'Describe the running node (NodeService.GetInfo).';
  static override examples = ['<%= config.bin %> node info', '<%= config.bin %> node info --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(NodeInfo);
    const api = await this.connect(flags);
    const info = await api.service(NodeService).getInfo();
    this.output(flags.json, GetInfoResponseSchema, info, () =>
      table(
        ['FIELD', 'VALUE'],
        [
          ['node id', info.nodeId],
          ['version', info.version],
          ['network', `${info.network} (id ${info.networkId})`],
          ['listening on', info.listenAddress],
          ['observed as', info.observedAddresses.join(', ') || '-'],
          ...(info.nat ? [['NAT mapping', natLine(info.nat)]] : []),
          ['advertised as', info.advertisedAddresses.join(', ') || '-'],
          ['gRPC API', info.grpcAddress],
          ['uptime', duration(info.uptimeMs)],
          ['peers', `${info.peersInbound + info.peersOutbound} (${info.peersInbound} in, ${info.peersOutbound} out)`],
          ['messages logged', String(info.messageLogSize)],
          ...(info.gossip
            ? [
                ['gossip mode', info.gossip.mode],
                ['gossip copies received', `${info.gossip.payloadsReceived} (${info.gossip.duplicates} duplicates)`],
                ['gossip ids announced', `${info.gossip.ihaveSent} sent, ${info.gossip.ihaveReceived} received`],
                ['gossip grafts / prunes', `${info.gossip.graftsSent}/${info.gossip.prunesSent} sent, ${info.gossip.graftsReceived}/${info.gossip.prunesReceived} received`],
                ['gossip repairs', `${info.gossip.recovered} recovered by graft, ${info.gossip.missingDropped} given up, ${info.gossip.stale} stale`],
                ...(info.gossip.treeRoot ? [['gossip root', rootLine(info.nodeId, info.gossip.treeRoot, info.gossip.treeDistanceMs, info.gossip.treeParent)]] : []),
                [
                  'gossip tree',
                  `${info.gossip.pruneHintsSent} prune hints sent; duplicates: ${info.gossip.duplicatesOnLazy} on lazy links, ${info.gossip.duplicatesUndecided} undecided`,
                ],
              ]
            : []),
        ],
      ),
    );
  }
}

/** Where the node is in the rooted tree: "this node", or the root, the distance and the parent. */
function rootLine(self: string, root: string, distanceMs: number, parent: string): string {
  if (root === self) return 'this node';
  if (parent === '') return `${root} (no path now: waiting for its next beacon)`;
  return `${root}, ${distanceMs} ms away through ${parent}`;
}

/** "203.0.113.7:7000 (nat-pmp via 192.168.1.1:5351, renewed)" or why there is none. */
function natLine(nat: NatStatus): string {
  if (nat.protocol === '') return `none (${nat.mode}${nat.error ? `: ${nat.error}` : ''})`;
  const to = nat.externalAddress || `external port ${nat.externalPort}`;
  const lease = nat.expiresAtMs === 0n ? 'permanent' : `until ${new Date(Number(nat.expiresAtMs)).toISOString()}`;
  return `${to} -> ${nat.internalPort} (${nat.protocol} via ${nat.gateway}, ${lease}${nat.error ? `; last renewal failed: ${nat.error}` : ''})`;
}
