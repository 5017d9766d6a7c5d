import { ChainService, GetHeadResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand } from '../../base-command.js';
import { blockLine } from '../../chain-format.js';

export default class ChainHead extends BaseCommand {
  static override summary = 'Show the best block of the chain (ChainService.GetHead).';
  static override examples = ['<%= config.bin %> chain head', '<%= config.bin %> chain head --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(ChainHead);
    const api = await this.connect(flags);
    const res = await api.service(ChainService).getHead({});
    this.output(flags.json, GetHeadResponseSchema, res, () => (res.head ? `${blockLine(res.head)}\nnetwork ${res.network}, work ${res.head.cumulativeWork}` : ''));
  }
}
