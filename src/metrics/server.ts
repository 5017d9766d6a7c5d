import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { PheromonesError } from '../errors.js';
import { formatAddress } from '../peer/address.js';
import { nodeRegistry, type MetricsSource } from './registry.js';

export interface MetricsServer {
  /** host:port actually bound (port 0 resolved). */
  readonly address: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Serves the node's metrics as Prometheus text at GET /metrics on host:port
 * (docs/api.md, "Metrics"). Anything else is 404 (405 for other methods on
 * /metrics). Nothing is authenticated: bind it to loopback or a private
 * network only.
 */
export async function startMetricsServer(options: { host: string; port: number; node: MetricsSource; logger: Logger }): Promise<MetricsServer> {
  const { registry, close } = nodeRegistry(options.node);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET and HEAD\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        options.logger.warn({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  // A scraper that leaves a connection open must not hold the daemon's shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      close();
      reject(
        new PheromonesError(
          err.code === 'EADDRINUSE' ? 'already-exists' : 'unavailable',
          `cannot serve metrics on ${formatAddress(options.host, options.port)}: ${err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : options.port;
  return {
    address: formatAddress(options.host, port),
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
