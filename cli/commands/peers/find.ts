import { Args } from '@oclif/core';
import { FindNodeResponseSchema, PeerService } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';

export default class PeersFind extends BaseCommand {
  static override summary = "Resolve a node id to its address through the DHT (PeerService.FindNode).";
  static override examples = ['<%= config.bin %> peers find <64-hex node id>'];
  static override args = {
    nodeId: Args.string({ description: 'node id, 64 hex characters', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PeersFind);
    const api = await this.connect(flags);
    // Leave the node time to answer with its own deadline before ours.
    const timeoutMs = Math.max(1, Math.min(60_000, flags.timeout - 500));
    const res = await api.service(PeerService).findNode({ nodeId: args.nodeId, timeoutMs });
    this.output(flags.json, FindNodeResponseSchema, res, () => `${res.nodeId} ${res.address} (${res.queried} queried, ${res.elapsedMs} ms)`);
  }
}
