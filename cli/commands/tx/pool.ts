import { Flags } from '@oclif/core';
import { ChainService, ListPoolTransactionsResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand } from '../../base-command.js';
import { txLine } from '../../chain-format.js';

export default class TxPool extends BaseCommand {
  static override summary = 'List transactions waiting for a block, in the order a miner takes them (ChainService.ListPoolTransactions).';
  static override examples = ['<%= config.bin %> tx pool', '<%= config.bin %> tx pool --limit 10 --json'];
  static override flags = {
    limit: Flags.integer({ description: 'most transactions shown', min: 1, max: 1000, default: 100 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TxPool);
    const api = await this.connect(flags);
    const res = await api.service(ChainService).listPoolTransactions({ limit: flags.limit });
    this.output(flags.json, ListPoolTransactionsResponseSchema, res, () =>
      [`${res.total} transaction(s), ${res.totalBytes} bytes`, ...res.transactions.map(txLine)].join('\n'),
    );
  }
}
