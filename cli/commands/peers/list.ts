import { ListPeersResponseSchema, PeerService } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';
import { direction, duration, table } from '../../format.js';

export default class PeersList extends BaseCommand {
  static override summary = 'List connected peers (PeerService.ListPeers).';
  static override examples = ['<%= config.bin %> peers list', '<%= config.bin %> peers list --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(PeersList);
    const api = await this.connect(flags);
    const res = await api.service(PeerService).listPeers();
    const now = BigInt(Date.now());
    this.output(flags.json, ListPeersResponseSchema, res, () =>
      res.peers.length === 0
        ? 'no peers'
        : table(
            ['NODE ID', 'ADDRESS', 'LISTENS ON', 'DIRECTION', 'UP', 'RTT', 'MSGS IN/OUT', 'GOSSIP COPIES/DUPS', 'PERSISTENT', 'AGENT'],
            res.peers.map((p) => [
              p.nodeId,
              p.address,
              p.listenAddress || '-',
              direction(p.direction),
              duration(now - p.connectedSinceMs),
              p.rttMs < 0n ? '-' : `${p.rttMs} ms`,
              `${p.messagesIn}/${p.messagesOut}`,
              // eager: the link is in this node's broadcast tree; lazy: only ids are announced on it.
              p.gossip ? `${p.gossip.eager ? 'eager' : 'lazy'} ${p.gossip.payloadsReceived}/${p.gossip.duplicates}` : '-',
              p.persistent ? 'yes' : 'no',
              p.userAgent,
            ]),
          ),
    );
  }
}
