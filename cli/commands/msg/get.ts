import { Args } from '@oclif/core';
import { GetMessageResponseSchema, MessageService } from '../../../src/gen/pheromones/admin/v1/message_pb.js';
import { BaseCommand } from '../../base-command.js';
import { messageLine } from '../../format.js';

export default class MsgGet extends BaseCommand {
  static override summary = 'Show one logged message by id (MessageService.GetMessage).';
  static override examples = ['<%= config.bin %> msg get <64-hex message id> --json'];
  static override args = {
    id: Args.string({ description: 'the message id, 64 hex characters', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MsgGet);
    const api = await this.connect(flags);
    const res = await api.service(MessageService).getMessage({ id: args.id });
    this.output(flags.json, GetMessageResponseSchema, res, () =>
      res.message ? `seq ${res.message.seq} id ${res.message.id}\n${messageLine(res.message)}` : '',
    );
  }
}
