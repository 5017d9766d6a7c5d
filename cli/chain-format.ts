/** Human-readable rendering of chain objects (ChainService responses). */
import type { ChainBlock, ChainTransaction, GetSyncStatusResponse } from '../src/gen/pheromones/admin/v1/chain_pb.js';
import { clock, printable } from './format.js';

export function blockLine(b: ChainBlock): string {
  const side = b.canonical ? '' : ' (side branch)';
  return `#${b.height} ${b.hash} [${clock(b.timestampMs)}] ${b.transactionCount} tx${side}`;
}

export function txLine(t: ChainTransaction): string {
  return `${t.id} ${t.authorAddress || t.author.slice(0, 16)} #${printable(Buffer.from(t.topic))}: ${printable(t.payload)}`;
}

export function blockDetail(b: ChainBlock): string {
  const rows: [string, string][] = [
    ['height', String(b.height)],
    ['hash', b.hash],
    ['prev', b.prevHash],
    ['time', new Date(Number(b.timestampMs)).toISOString()],
    ['merkle root', b.merkleRoot],
    ['target', b.target],
    ['nonce', String(b.nonce)],
    ['miner', b.miner],
    ['work', b.cumulativeWork],
    ['canonical', String(b.canonical)],
    ['transactions', String(b.transactionCount)],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(12)}  ${v}`);
  for (const t of b.transactions) lines.push(`  ${txLine(t)}`);
  return lines.join('\n');
}

export function syncLine(s: GetSyncStatusResponse): string {
  const state = s.syncing ? `syncing from ${s.syncPeer.slice(0, 16)}` : s.targetHeight > s.height ? 'behind' : 'in sync';
  return [
    `height ${s.height}/${s.targetHeight} (${s.percent.toFixed(1)}%), ${state}`,
    `chain peers ${s.chainPeers}, blocks imported ${s.blocksImported}, pool ${s.poolSize} tx, mining ${s.mining ? 'on' : 'off'}`,
  ].join('\n');
}
