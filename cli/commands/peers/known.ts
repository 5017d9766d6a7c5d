import { KnownPeerSource, ListKnownPeersResponseSchema, PeerService } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';
import { duration, table } from '../../format.js';

const SOURCE: Record<KnownPeerSource, string> = {
  [KnownPeerSource.UNSPECIFIED]: '-',
  [KnownPeerSource.SEED]: 'seed',
  [KnownPeerSource.EXCHANGE]: 'exchange',
  [KnownPeerSource.DHT]: 'dht',
  [KnownPeerSource.INBOUND]: 'inbound',
  [KnownPeerSource.MANUAL]: 'manual',
};

export default class PeersKnown extends BaseCommand {
  static override summary = 'List the peer store: every known address (PeerService.ListKnownPeers).';
  static override examples = ['<%= config.bin %> peers known', '<%= config.bin %> peers known --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(PeersKnown);
    const api = await this.connect(flags);
    const res = await api.service(PeerService).listKnownPeers({});
    const now = BigInt(Date.now());
    const ago = (ms: bigint): string => (ms === 0n ? 'never' : `${duration(now - ms)} ago`);
    this.output(flags.json, ListKnownPeersResponseSchema, res, () =>
      res.peers.length === 0
        ? 'no known peers'
        : table(
            ['ADDRESS', 'NODE ID', 'SOURCE', 'LAST SUCCESS', 'LAST SEEN', 'FAILURES'],
            res.peers.map((p) => [p.address, p.nodeId === '' ? '-' : p.nodeId, SOURCE[p.source] ?? '-', ago(p.lastSuccessMs), ago(p.lastSeenMs), String(p.failures)]),
          ),
    );
  }
}
