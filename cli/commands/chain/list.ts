import { Flags } from '@oclif/core';
import { ChainService, ListBlocksResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand } from '../../base-command.js';
import { blockLine, txLine } from '../../chain-format.js';

export default class ChainList extends BaseCommand {
  static override summary = 'List canonical blocks in a height range, lowest first (ChainService.ListBlocks).';
  static override examples = ['<%= config.bin %> chain list', '<%= config.bin %> chain list --from 100 --to 120 --txs'];
  static override flags = {
    from: Flags.integer({ description: 'first height', min: 0, default: 0 }),
    to: Flags.integer({ description: 'last height (default: the head)', min: 0 }),
    limit: Flags.integer({ description: 'blocks per page (the command follows the pages)', min: 1, max: 1000, default: 100 }),
    txs: Flags.boolean({ description: 'include each block\'s transactions', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ChainList);
    const api = await this.connect(flags);
    const chain = api.service(ChainService);
    // Pin the range to the head as it is now, so a growing chain does not keep the listing going.
    const to = flags.to ?? Number((await chain.getHead({})).head?.height ?? 0n);
    let from = BigInt(flags.from);
    // Bounded: each page advances `from` by at least one block.
    for (let page = 0; page <= to + 1; page++) {
      const res = await chain.listBlocks({ fromHeight: from, toHeight: BigInt(to), limit: flags.limit, includeTransactions: flags.txs });
      this.output(flags.json, ListBlocksResponseSchema, res, () =>
        res.blocks.map((b) => [blockLine(b), ...b.transactions.map((t) => `  ${txLine(t)}`)].join('\n')).join('\n'),
        { stream: true },
      );
      if (res.nextFromHeight === 0n || res.nextFromHeight <= from) break;
      from = res.nextFromHeight;
    }
  }
}
