import { createInterface } from 'node:readline';
import { Flags } from '@oclif/core';
import { MessageService, SubscribeResponseSchema } from '../../src/gen/pheromones/admin/v1/message_pb.js';
import { NodeService } from '../../src/gen/pheromones/admin/v1/node_pb.js';
import { BaseCommand } from '../base-command.js';
import { messageLine } from '../format.js';
import { untilInterrupted } from '../interrupt.js';

/** After input ends, how long to wait for our own lines to come back before exiting. */
const ECHO_WAIT_MS = 5_000;

export default class Chat extends BaseCommand {
  static override summary =
    'Interactive chat: each line typed is broadcast, messages are printed as they arrive (MessageService.Broadcast and Subscribe).';
  static override description =
    'Reads lines from standard input until it ends (Ctrl-D) or Ctrl-C. Works with piped input: it exits once every line was sent and has come back from the node.';
  static override examples = ['<%= config.bin %> chat', 'echo "hello" | <%= config.bin %> chat'];
  static override flags = {
    topic: Flags.string({ description: 'topic to chat on', default: 'chat' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Chat);
    const api = await this.connect(flags);
    const messages = api.service(MessageService);
    // Also fails fast, before reading input, when the node or the token is wrong.
    // The log never shrinks and its size is its last seq: resuming from there
    // means no line sent below can be missed while the stream starts.
    const { messageLogSize } = await api.service(NodeService).getInfo();
    await untilInterrupted(async (signal) => {
      const ac = new AbortController();
      signal.addEventListener('abort', () => ac.abort(), { once: true });
      // Seqs of our lines not yet printed, and recently printed seqs (an echo can beat the Broadcast answer).
      const sent = new Set<bigint>();
      const printed = new Set<bigint>();
      let inputDone = false;
      const maybeFinish = (): void => {
        if (inputDone && sent.size === 0) ac.abort();
      };

      const stream = messages.subscribe({ topic: flags.topic, replay: true, afterSeq: messageLogSize }, { signal: ac.signal });
      const printing = (async () => {
        for await (const res of stream) {
          if (res.event.case !== 'message') continue;
          const m = res.event.value;
          this.output(flags.json, SubscribeResponseSchema, res, () => messageLine(m), { stream: true });
          sent.delete(m.seq);
          printed.add(m.seq);
          if (printed.size > 10_000) printed.delete(printed.values().next().value!);
          maybeFinish();
        }
      })();

      const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
      ac.signal.addEventListener('abort', () => rl.close(), { once: true });
      const pending: Promise<void>[] = [];
      let failure: unknown;
      for await (const line of rl) {
        if (line.trim() === '') continue;
        pending.push(
          messages.broadcast({ topic: flags.topic, payload: new TextEncoder().encode(line) }).then(
            (res) => {
              if (!printed.has(res.seq)) sent.add(res.seq);
            },
            (err: unknown) => {
              failure ??= err;
              ac.abort();
            },
          ),
        );
      }
      await Promise.all(pending);
      inputDone = true;
      const echoTimer = setTimeout(() => ac.abort(), ECHO_WAIT_MS);
      // Lines that came back before their broadcast answered were already printed.
      maybeFinish();
      try {
        await printing;
      } finally {
        clearTimeout(echoTimer);
      }
      if (failure !== undefined) throw failure;
    });
  }
}
