/**
 * The gRPC control plane: node, peer and message services, health and
 * reflection on one grpc-js server, behind the cookie token.
 */
import { readFile } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import { file_grpc_health_v1_health, Health } from '../gen/grpc/health/v1/health_pb.js';
import { ChainService, file_pheromones_admin_v1_chain } from '../gen/pheromones/admin/v1/chain_pb.js';
import type { ChainNode } from '../chain/service.js';
import { chainService } from './services/chain.js';
import { file_pheromones_admin_v1_message, MessageService } from '../gen/pheromones/admin/v1/message_pb.js';
import { file_pheromones_admin_v1_node, NodeService } from '../gen/pheromones/admin/v1/node_pb.js';
import { file_pheromones_admin_v1_peer, PeerService } from '../gen/pheromones/admin/v1/peer_pb.js';
import type { NodeApi } from '../node/types.js';
import { formatAddress, normaliseHost } from '../peer/address.js';
import { authInterceptor, removeCookie, writeCookie } from './auth.js';
import { bindService, type AdapterHooks } from './grpc-adapter.js';
import { healthService } from './health.js';
import { addReflection } from './reflection.js';
import { messageService } from './services/message-service.js';
import { nodeService } from './services/node-service.js';
import { peerService } from './services/peer-service.js';

export interface ApiServerOptions {
  node: NodeApi;
  /** host:port to bind; port 0 picks a free one. */
  address: string;
  /** Where the cookie (api.cookie) is written. */
  dataDir: string;
  /** PEM files; required together to bind a non-loopback host. */
  tlsCertPath?: string;
  tlsKeyPath?: string;
  logger?: Pick<Logger, 'error' | 'info'>;
  /** The running node's chain: ChainService is served when given. */
  chain?: () => ChainNode;
  /** Events a stream may hold for a slow client before it is ended (default 1000). */
  streamBuffer?: number;
}

export interface ApiServer {
  /** host:port actually bound. */
  readonly address: string;
  readonly port: number;
  readonly tls: boolean;
  readonly cookiePath: string;
  /** The token clients must send (also in the cookie file). */
  readonly token: string;
  /** End open streams, stop listening and remove the cookie. */
  stop(): Promise<void>;
}

export const API_SERVICES = [NodeService.typeName, PeerService.typeName, MessageService.typeName];

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;
const SHUTDOWN_GRACE_MS = 2_000;

function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * The checks that need no I/O, so the daemon can refuse to start before it
 * brings the node up: a parsable address, and TLS for anything not loopback.
 */
export function checkApiOptions(opts: Pick<ApiServerOptions, 'address' | 'tlsCertPath' | 'tlsKeyPath'>): { host: string; port: number } {
  const { host, port } = parseBindAddress(opts.address);
  if ((opts.tlsCertPath === undefined) !== (opts.tlsKeyPath === undefined)) {
    throw new PheromonesError('invalid-argument', '--grpc-tls-cert and --grpc-tls-key go together: give both or neither');
  }
  if (opts.tlsCertPath === undefined && !isLoopback(host)) {
    throw new PheromonesError(
      'failed-precondition',
      `refusing to serve the gRPC API on non-loopback address ${formatAddress(host, port)} without TLS: pass --grpc-tls-cert and --grpc-tls-key (or bind 127.0.0.1)`,
    );
  }
  return { host, port };
}

async function credentialsFor(certPath: string | undefined, keyPath: string | undefined): Promise<ServerCredentials> {
  if (certPath === undefined || keyPath === undefined) return ServerCredentials.createInsecure();
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new PheromonesError('invalid-argument', `cannot read the gRPC TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const [cert, key] = await Promise.all([read(certPath, 'certificate'), read(keyPath, 'key')]);
  return ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { host, port } = checkApiOptions(opts);
  const creds = await credentialsFor(opts.tlsCertPath, opts.tlsKeyPath);
  const cookie = await writeCookie(opts.dataDir);
  const calls = new Set<AbortController>();
  const hooks: AdapterHooks = {
    calls,
    onUnexpectedError: (err, method) => opts.logger?.error({ err, method }, 'gRPC handler failed'),
  };
  // The node's services answer UNAVAILABLE while it is not serving (health says why).
  const nodeHooks: AdapterHooks = {
    ...hooks,
    precondition: () => {
      if (!opts.node.ready) throw new PheromonesError('unavailable', 'the node is not serving (starting or stopping); try again');
    },
  };
  const streamBuffer = opts.streamBuffer ?? 1000;
  const server = new Server({ interceptors: [authInterceptor(cookie.token)] });
  let boundAddress = '';
  bindService(server, NodeService, nodeService(opts.node, () => boundAddress), nodeHooks);
  bindService(server, PeerService, peerService(opts.node, { streamBuffer }), nodeHooks);
  bindService(server, MessageService, messageService(opts.node, { streamBuffer }), nodeHooks);
  const chainFiles = opts.chain === undefined ? [] : [file_pheromones_admin_v1_chain];
  const chainNames = opts.chain === undefined ? [] : [ChainService.typeName];
  if (opts.chain !== undefined) bindService(server, ChainService, chainService(opts.chain, { streamBuffer }), nodeHooks);
  bindService(server, Health, healthService({ ready: () => opts.node.ready, services: [...API_SERVICES, ...chainNames] }), hooks);
  addReflection(
    server,
    [file_pheromones_admin_v1_node, file_pheromones_admin_v1_peer, file_pheromones_admin_v1_message, ...chainFiles, file_grpc_health_v1_health],
    [...API_SERVICES, ...chainNames, Health.typeName],
  );

  let boundPort: number;
  try {
    boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(formatAddress(host, port), creds, (err, p) => (err ? reject(err) : resolve(p)));
    });
  } catch (err) {
    await removeCookie(opts.dataDir);
    throw new PheromonesError('unavailable', `cannot serve the gRPC API on ${formatAddress(host, port)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  boundAddress = formatAddress(host, boundPort);

  let stopping: Promise<void> | undefined;
  return {
    address: boundAddress,
    port: boundPort,
    tls: opts.tlsCertPath !== undefined,
    cookiePath: cookie.path,
    token: cookie.token,
    stop() {
      stopping ??= (async () => {
        // Long-lived streams would hold tryShutdown open: end them first.
        for (const c of calls) c.abort();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, SHUTDOWN_GRACE_MS);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await removeCookie(opts.dataDir);
      })();
      return stopping;
    },
  };
}

function parseBindAddress(address: string): { host: string; port: number } {
  // Like parseAddress, but port 0 (pick one) and an empty host (all interfaces) are allowed.
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(address.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new PheromonesError('invalid-argument', `--grpc: "${address}" is not a host:port address (IPv6 as [addr]:port)`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : normaliseHost(host), port };
}
