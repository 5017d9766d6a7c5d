import { Args, Flags } from '@oclif/core';
import { BanPeerResponseSchema, PeerService } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand, CliFailure, EXIT } from '../../base-command.js';

/** "90s", "15m", "24h", "7d" or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new CliFailure(`--duration: "${text}" is not a duration (e.g. 90s, 15m, 24h, 7d)`, EXIT.usage);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export default class PeersBan extends BaseCommand {
  static override summary = 'Ban a node id, host:port or host and drop matching peers (PeerService.BanPeer).';
  static override examples = [
    '<%= config.bin %> peers ban 10.0.0.7:7000',
    '<%= config.bin %> peers ban 10.0.0.7 --duration 7d --reason spam',
    '<%= config.bin %> peers ban <64-hex node id>',
  ];
  static override args = {
    target: Args.string({ description: 'node id (64 hex), host:port, or host (every port)', required: true }),
  };
  static override flags = {
    duration: Flags.string({ description: "how long (e.g. 90s, 15m, 24h, 7d); default the node's ban duration (24h)" }),
    reason: Flags.string({ description: 'why, kept with the ban', default: '' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PeersBan);
    const durationMs = flags.duration === undefined ? 0 : parseDuration(flags.duration);
    const api = await this.connect(flags);
    const res = await api.service(PeerService).banPeer({ target: args.target, durationMs: BigInt(durationMs), reason: flags.reason });
    this.output(flags.json, BanPeerResponseSchema, res, () =>
      res.ban ? `banned ${res.ban.target} until ${new Date(Number(res.ban.expiresAtMs)).toISOString()} (${res.ban.reason})` : 'banned',
    );
  }
}
