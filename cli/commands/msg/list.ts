import { Flags } from '@oclif/core';
import { ListMessagesResponseSchema, MessageService } from '../../../src/gen/pheromones/admin/v1/message_pb.js';
import { BaseCommand } from '../../base-command.js';
import { clock, printable, table } from '../../format.js';
import { parseSeq } from './watch.js';

export default class MsgList extends BaseCommand {
  static override summary = 'Read the message log, oldest first (MessageService.ListMessages).';
  static override examples = [
    '<%= config.bin %> msg list',
    '<%= config.bin %> msg list --after 100 --limit 50',
    '<%= config.bin %> msg list --topic ci --json',
  ];
  static override flags = {
    limit: Flags.integer({ description: 'at most this many messages', default: 100, min: 1, max: 1000 }),
    after: Flags.string({ description: 'only messages with a seq greater than this', default: '0' }),
    topic: Flags.string({ description: 'only this topic (default: every topic)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(MsgList);
    const afterSeq = parseSeq(flags.after, '--after');
    const api = await this.connect(flags);
    const res = await api.service(MessageService).listMessages({ afterSeq, limit: flags.limit, topic: flags.topic ?? '' });
    this.output(flags.json, ListMessagesResponseSchema, res, () =>
      res.messages.length === 0
        ? 'no messages'
        : table(
            ['SEQ', 'TIME', 'ORIGIN', 'TOPIC', 'HOPS', 'TEXT'],
            res.messages.map((m) => [
              String(m.seq),
              clock(m.receivedAtMs),
              m.origin.slice(0, 8),
              printable(Buffer.from(m.topic)),
              String(m.hops),
              printable(m.payload),
            ]),
          ),
    );
  }
}
