import { Args } from '@oclif/core';
import { PeerService, UnbanPeerResponseSchema } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';

export default class PeersUnban extends BaseCommand {
  static override summary = 'Lift a ban (PeerService.UnbanPeer).';
  static override examples = ['<%= config.bin %> peers unban 10.0.0.7:7000'];
  static override args = {
    target: Args.string({ description: 'the ban target, as `peers bans` lists it', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PeersUnban);
    const api = await this.connect(flags);
    const res = await api.service(PeerService).unbanPeer({ target: args.target });
    this.output(flags.json, UnbanPeerResponseSchema, res, () => `unbanned ${res.ban?.target ?? args.target}`);
  }
}
