import { Flags } from '@oclif/core';
import { MessageService, SubscribeResponseSchema } from '../../../src/gen/pheromones/admin/v1/message_pb.js';
import { BaseCommand, CliFailure, EXIT } from '../../base-command.js';
import { directLine, messageLine } from '../../format.js';
import { untilInterrupted } from '../../interrupt.js';

export default class MsgWatch extends BaseCommand {
  static override summary = 'Print messages as the node delivers them, until Ctrl-C (MessageService.Subscribe).';
  static override examples = [
    '<%= config.bin %> msg watch',
    '<%= config.bin %> msg watch --topic ci',
    '<%= config.bin %> msg watch --after 41   # replay the log after seq 41 first',
  ];
  static override flags = {
    topic: Flags.string({ description: 'only this topic (default: every topic)' }),
    after: Flags.string({ description: 'first replay logged messages with a seq greater than this' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(MsgWatch);
    const after = flags.after === undefined ? undefined : parseSeq(flags.after, '--after');
    const api = await this.connect(flags);
    await untilInterrupted(async (signal) => {
      const stream = api.service(MessageService).subscribe(
        { topic: flags.topic ?? '', replay: after !== undefined, afterSeq: after ?? 0n, includeDirect: true },
        { signal },
      );
      for await (const res of stream) {
        this.output(
          flags.json,
          SubscribeResponseSchema,
          res,
          () => (res.event.case === 'message' ? messageLine(res.event.value) : res.event.case === 'direct' ? directLine(res.event.value) : ''),
          { stream: true },
        );
      }
    });
  }
}

export function parseSeq(text: string, flag: string): bigint {
  if (!/^\d{1,20}$/.test(text.trim())) throw new CliFailure(`${flag}: "${text}" is not a sequence number`, EXIT.usage);
  return BigInt(text.trim());
}
