import { ApiChannel } from '../../src/api/client.js';
import { readCookie } from '../../src/api/auth.js';
import { ChainService } from '../../src/gen/pheromones/admin/v1/chain_pb.js';
import { MessageService } from '../../src/gen/pheromones/admin/v1/message_pb.js';
import { PeerService } from '../../src/gen/pheromones/admin/v1/peer_pb.js';
import type { Daemon } from './daemon.js';

const API_START_MS = 15_000;
const CALL_TIMEOUT_MS = 10_000;

/** The gRPC address a daemon logged once its API was up. */
export async function rpcOf(d: Daemon): Promise<string> {
  const r = await d.waitForLog((l) => l.msg === 'api listening', API_START_MS, '"api listening"');
  return r.address as string;
}

/** Authenticated API clients for a running daemon, and the CLI flags that reach the same API. */
export async function apiOf(d: Daemon) {
  const rpc = await rpcOf(d);
  const channel = new ApiChannel({ address: rpc, token: await readCookie(d.dataDir), timeoutMs: CALL_TIMEOUT_MS });
  return {
    daemon: d,
    rpc,
    flags: ['--rpc', rpc, '--data-dir', d.dataDir],
    channel,
    chain: channel.service(ChainService),
    messages: channel.service(MessageService),
    peers: channel.service(PeerService),
  };
}

export type NodeApiClients = Awaited<ReturnType<typeof apiOf>>;
