import { Args, Flags } from '@oclif/core';
import { AddPeerResponseSchema, PeerService } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';
import { peerSummary } from '../../format.js';

export default class PeersAdd extends BaseCommand {
  static override summary = 'Connect to a node and wait for the handshake (PeerService.AddPeer).';
  static override examples = ['<%= config.bin %> peers add 127.0.0.1:7000', '<%= config.bin %> peers add 10.0.0.2:7000 --persistent'];
  static override args = {
    address: Args.string({ description: "host:port of the node's P2P listener", required: true }),
  };
  static override flags = {
    persistent: Flags.boolean({ description: 'remember the peer and redial it after disconnections and restarts', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PeersAdd);
    const api = await this.connect(flags);
    // Leave the node time to answer with its own timeout before our deadline.
    const timeoutMs = Math.max(1, Math.min(120_000, flags.timeout - 500));
    const res = await api.service(PeerService).addPeer({ address: args.address, persistent: flags.persistent, timeoutMs });
    this.output(flags.json, AddPeerResponseSchema, res, () => (res.peer ? `connected to ${peerSummary(res.peer)}` : 'connected'));
  }
}
