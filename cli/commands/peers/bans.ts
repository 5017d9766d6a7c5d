import { ListBansResponseSchema, PeerService } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';
import { table } from '../../format.js';

export default class PeersBans extends BaseCommand {
  static override summary = 'List the bans in force (PeerService.ListBans).';
  static override examples = ['<%= config.bin %> peers bans', '<%= config.bin %> peers bans --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(PeersBans);
    const api = await this.connect(flags);
    const res = await api.service(PeerService).listBans({});
    this.output(flags.json, ListBansResponseSchema, res, () =>
      res.bans.length === 0
        ? 'no bans'
        : table(
            ['TARGET', 'UNTIL', 'REASON'],
            res.bans.map((b) => [b.target, new Date(Number(b.expiresAtMs)).toISOString(), b.reason]),
          ),
    );
  }
}
