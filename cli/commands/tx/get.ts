import { Args } from '@oclif/core';
import { ChainService, GetTransactionResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand } from '../../base-command.js';
import { blockLine, txLine } from '../../chain-format.js';

export default class TxGet extends BaseCommand {
  static override summary = 'Show a transaction and the block holding it, or that it waits in the pool (ChainService.GetTransaction).';
  static override examples = ['<%= config.bin %> tx get <64-hex transaction id>'];
  static override args = {
    id: Args.string({ description: 'the transaction id, 64 hex characters', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TxGet);
    const api = await this.connect(flags);
    const res = await api.service(ChainService).getTransaction({ id: args.id });
    this.output(flags.json, GetTransactionResponseSchema, res, () => {
      const where = res.inPool ? 'in the pool' : res.block ? `in block ${blockLine(res.block)}, ${res.confirmations} confirmation(s)` : '';
      return res.transaction ? `${txLine(res.transaction)}\n${where}` : '';
    });
  }
}
