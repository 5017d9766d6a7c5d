import { Args, Flags } from '@oclif/core';
import { BroadcastResponseSchema, MessageService, SendToPeerResponseSchema } from '../../../src/gen/pheromones/admin/v1/message_pb.js';
import { BaseCommand } from '../../base-command.js';

export default class MsgSend extends BaseCommand {
  static override summary = 'Broadcast a message (MessageService.Broadcast), or send it to one peer with --to (MessageService.SendToPeer).';
  static override examples = [
    '<%= config.bin %> msg send "hello everyone"',
    '<%= config.bin %> msg send "build done" --topic ci',
    '<%= config.bin %> msg send "just you" --to <64-hex node id>',
  ];
  static override args = {
    text: Args.string({ description: 'the message text (UTF-8)', required: true }),
  };
  static override flags = {
    topic: Flags.string({ description: 'topic to publish on', default: 'chat' }),
    to: Flags.string({ description: 'node id of a connected peer: send to it alone, not relayed or logged' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MsgSend);
    const api = await this.connect(flags);
    const payload = new TextEncoder().encode(args.text);
    const messages = api.service(MessageService);
    if (flags.to !== undefined) {
      const res = await messages.sendToPeer({ nodeId: flags.to, topic: flags.topic, payload });
      this.output(flags.json, SendToPeerResponseSchema, res, () => `sent to ${flags.to}`);
      return;
    }
    const res = await messages.broadcast({ topic: flags.topic, payload });
    this.output(flags.json, BroadcastResponseSchema, res, () => `sent ${res.id} (seq ${res.seq})`);
  }
}
