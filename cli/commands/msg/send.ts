import { Args, Flags } from '@oclif/core';
import { txToProto } from '../../../src/chain/codec.js';
import { signTransaction } from '../../../src/chain/transaction.js';
import { ChainService, SubmitTransactionResponseSchema } from '../../../src/gen/pheromones/admin/v1/chain_pb.js';
import { BroadcastResponseSchema, MessageService, SendToPeerResponseSchema } from '../../../src/gen/pheromones/admin/v1/message_pb.js';
import { BaseCommand, CliFailure, EXIT } from '../../base-command.js';
import { keystoreFlag, passwordFileFlag, unlockForSigning } from '../../keystore-command.js';

export default class MsgSend extends BaseCommand {
  static override summary =
    'Broadcast a message (MessageService.Broadcast; the node signs it into the chain), sign it here with --from (ChainService.SubmitTransaction), or send it to one peer with --to (MessageService.SendToPeer).';
  static override examples = [
    '<%= config.bin %> msg send "hello everyone"',
    '<%= config.bin %> msg send "build done" --topic ci',
    '<%= config.bin %> msg send "signed by me" --from alice --password-file ~/.alice-pass',
    '<%= config.bin %> msg send "just you" --to <64-hex node id>',
  ];
  static override args = {
    text: Args.string({ description: 'the message text (UTF-8)', required: true }),
  };
  static override flags = {
    topic: Flags.string({ description: 'topic to publish on', default: 'chat' }),
    to: Flags.string({ description: 'node id of a connected peer: send to it alone, not relayed or logged', exclusive: ['from'] }),
    from: Flags.string({
      description: 'sign with this keystore key (name or address) in this process; only the signed transaction is sent to the node',
      helpValue: '<key>',
    }),
    keystore: keystoreFlag,
    'password-file': passwordFileFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MsgSend);
    const payload = new TextEncoder().encode(args.text);
    if (flags.from !== undefined) {
      // The key is unlocked and used here; the node only ever sees the signature.
      const key = await unlockForSigning({ keystore: flags.keystore, passwordFile: flags['password-file'], key: flags.from }).catch((err: unknown) => {
        throw new CliFailure(`--from ${flags.from}: ${(err as Error).message}`, EXIT.error);
      });
      const tx = signTransaction(key.secretKey, flags.topic, payload);
      key.secretKey.fill(0);
      const api = await this.connect(flags);
      const res = await api.service(ChainService).submitTransaction({ transaction: txToProto(tx) });
      this.output(flags.json, SubmitTransactionResponseSchema, res, () => `sent ${res.messageId} (seq ${res.messageSeq}), transaction ${res.id} from ${key.address}`);
      return;
    }
    const api = await this.connect(flags);
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
