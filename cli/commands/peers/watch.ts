import { PeerEventType, PeerService, SubscribePeerEventsResponseSchema } from '../../../src/gen/pheromones/admin/v1/peer_pb.js';
import { BaseCommand } from '../../base-command.js';
import { clock, peerSummary, printable, reason } from '../../format.js';
import { untilInterrupted } from '../../interrupt.js';

export default class PeersWatch extends BaseCommand {
  static override summary = 'Print peer connections, disconnections and bans until Ctrl-C (PeerService.SubscribePeerEvents).';
  static override examples = ['<%= config.bin %> peers watch', '<%= config.bin %> peers watch --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(PeersWatch);
    const api = await this.connect(flags);
    await untilInterrupted(async (signal) => {
      for await (const ev of api.service(PeerService).subscribePeerEvents({}, { signal })) {
        this.output(
          flags.json,
          SubscribePeerEventsResponseSchema,
          ev,
          () => {
            const who = ev.peer ? peerSummary(ev.peer) : '?';
            const at = `[${clock(Date.now())}]`;
            if (ev.type === PeerEventType.CONNECTED) return `${at} connected ${who}`;
            if (ev.type === PeerEventType.BANNED) {
              const until = ev.ban ? new Date(Number(ev.ban.expiresAtMs)).toISOString() : '?';
              return `${at} banned ${ev.ban?.target ?? '?'} until ${until} (${printable(Buffer.from(ev.ban?.reason ?? ''))})`;
            }
            const detail = ev.detail ? `: ${printable(Buffer.from(ev.detail))}` : '';
            return `${at} disconnected ${who} (${reason(ev.reason)}${detail})`;
          },
          { stream: true },
        );
      }
    });
  }
}
