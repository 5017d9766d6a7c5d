import { Flags } from '@oclif/core';
import { ChainService, SubscribeBlocksResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand } from '../../base-command.js';
import { blockLine, txLine } from '../../chain-format.js';
import { untilInterrupted } from '../../interrupt.js';

export default class ChainWatch extends BaseCommand {
  static override summary = 'Print blocks as they join the canonical chain, and reorgs, until Ctrl-C (ChainService.SubscribeBlocks).';
  static override examples = ['<%= config.bin %> chain watch', '<%= config.bin %> chain watch --txs --json'];
  static override flags = {
    txs: Flags.boolean({ description: "include each block's transactions", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ChainWatch);
    const api = await this.connect(flags);
    await untilInterrupted(async (signal) => {
      const stream = api.service(ChainService).subscribeBlocks({ includeTransactions: flags.txs }, { signal });
      for await (const res of stream) {
        this.output(
          flags.json,
          SubscribeBlocksResponseSchema,
          res,
          () => {
            const e = res.event;
            if (e.case === 'block') return [blockLine(e.value), ...e.value.transactions.map((t) => `  ${txLine(t)}`)].join('\n');
            if (e.case === 'reorg') return `reorg at height ${e.value.forkHeight}: ${e.value.removed.length} block(s) left, ${e.value.added.length} joined`;
            return '';
          },
          { stream: true },
        );
      }
    });
  }
}
