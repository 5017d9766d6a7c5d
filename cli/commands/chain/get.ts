import { Args } from '@oclif/core';
import { ChainService, GetBlockResponseSchema, type GetBlockRequest } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { GetBlockRequestSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BaseCommand, CliFailure, EXIT } from '../../base-command.js';
import { blockDetail } from '../../chain-format.js';

export default class ChainGet extends BaseCommand {
  static override summary = 'Show one block with its transactions, by height or hash; the head by default (ChainService.GetBlock).';
  static override examples = ['<%= config.bin %> chain get', '<%= config.bin %> chain get 42', '<%= config.bin %> chain get <64-hex block hash> --json'];
  static override args = {
    block: Args.string({ description: 'a height (canonical chain) or a 64-hex block hash' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ChainGet);
    const req: MessageInitShape<typeof GetBlockRequestSchema> = { selector: selectorOf(args.block) };
    const api = await this.connect(flags);
    const res = await api.service(ChainService).getBlock(req);
    this.output(flags.json, GetBlockResponseSchema, res, () => (res.block ? blockDetail(res.block) : ''));
  }
}

function selectorOf(text: string | undefined): GetBlockRequest['selector'] {
  if (text === undefined) return { case: undefined };
  const t = text.trim();
  if (/^\d{1,15}$/.test(t)) return { case: 'height', value: BigInt(t) };
  if (/^[0-9a-fA-F]{64}$/.test(t)) return { case: 'hash', value: t.toLowerCase() };
  throw new CliFailure(`"${text}" is neither a block height nor a 64-hex block hash`, EXIT.usage);
}
