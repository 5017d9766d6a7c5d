import { Args } from '@oclif/core';
import { PeerService, RemovePeerResponseSchema } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';
import { peerSummary } from '../../format.js';

export default class PeersRemove extends BaseCommand {
  static override summary = 'Disconnect a peer and forget it if persistent (PeerService.RemovePeer).';
  static override examples = ['<%= config.bin %> peers remove 127.0.0.1:7000', '<%= config.bin %> peers remove <64-hex node id>'];
  static override args = {
    peer: Args.string({ description: 'node id (64 hex) or host:port of the peer', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PeersRemove);
    const api = await this.connect(flags);
    const res = await api.service(PeerService).removePeer({ peer: args.peer });
    this.output(flags.json, RemovePeerResponseSchema, res, () => (res.peer ? `removed ${peerSummary(res.peer)}` : 'removed'));
  }
}
