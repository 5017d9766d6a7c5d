/** Human-readable rendering shared by the commands. */
import type { DirectMessage, Message } from '../src/gen/pheromones/admin/v1/message_pb.js';
import { PeerDirection, PeerDisconnectReason, type Peer } from '../src/gen/pheromones/admin/v1/peer_pb.js';

/** Whole-second local clock for a millisecond timestamp. */
export function clock(ms: bigint | number): string {
  const t = new Date(Number(ms));
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
}

/** Network text for a terminal: control characters (escape sequences) become U+FFFD. */
export function printable(bytes: Uint8Array): string {
  // eslint-disable-next-line no-control-regex
  return Buffer.from(bytes).toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\uFFFD');
}

/** A plain left-aligned table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** "[HH:MM:SS] <origin8> (hops N): text", as the daemon prints chat; the topic is shown when not "chat". */
export function messageLine(m: Message): string {
  const topic = m.topic === 'chat' ? '' : ` #${printable(Buffer.from(m.topic))}`;
  return `[${clock(m.receivedAtMs)}] ${m.origin.slice(0, 8)}${topic} (hops ${m.hops}): ${printable(m.payload)}`;
}

export function directLine(m: DirectMessage): string {
  const topic = m.topic === 'chat' ? '' : ` #${printable(Buffer.from(m.topic))}`;
  return `[${clock(m.receivedAtMs)}] ${m.from.slice(0, 8)}${topic} (direct): ${printable(m.payload)}`;
}

export function direction(d: PeerDirection): string {
  return d === PeerDirection.INBOUND ? 'inbound' : d === PeerDirection.OUTBOUND ? 'outbound' : '?';
}

export function reason(r: PeerDisconnectReason): string {
  return (PeerDisconnectReason[r] ?? 'UNSPECIFIED').toLowerCase().replace(/_/g, '-');
}

export function peerSummary(p: Peer): string {
  return `${p.nodeId} at ${p.address} (${direction(p.direction)}${p.persistent ? ', persistent' : ''})`;
}

export function duration(ms: bigint): string {
  let s = Number(ms / 1000n);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${s}s` : `${s}s`;
}
