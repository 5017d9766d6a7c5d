import { ChainService, GetSyncStatusResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand } from '../../base-command.js';
import { syncLine } from '../../chain-format.js';

export default class ChainStatus extends BaseCommand {
  static override summary = 'Show sync progress: our height against the best peer, pool size, mining (ChainService.GetSyncStatus).';
  static override examples = ['<%= config.bin %> chain status', '<%= config.bin %> chain status --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(ChainStatus);
    const api = await this.connect(flags);
    const res = await api.service(ChainService).getSyncStatus({});
    this.output(flags.json, GetSyncStatusResponseSchema, res, () => syncLine(res));
  }
}
