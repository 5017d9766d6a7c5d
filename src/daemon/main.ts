import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { checkApiOptions, startApiServer } from '../api/server.js';
import { availableParallelism } from 'node:os';
import { Node } from '../node/node.js';
import { resolveMinerKey } from './miner-key.js';
import type { NodeApi } from '../node/types.js';
import { broadcastLines, printChat } from './chat.js';
import { formatHostPort, parseDaemonArgs, usage, UsageError, type DaemonOptions } from './flags.js';
import { createDaemonLogger } from './logger.js';
import { startMetricsServer } from '../metrics/server.js';
import { exitOnSignals } from './shutdown.js';

/**
 * `pheromones-node`: parse flags, start one Node, wire stdin/stdout chat and
 * signals to it. Everything stateful lives in the Node object.
 */

function packageVersion(): string {
  // dist/src/daemon/main.js and src/daemon/main.ts both sit three levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/**
 * The node logs connects and disconnects; the daemon adds what a session
 * carried (the integration tests bound gossip cost with these totals).
 */
function logSessionTotals(node: NodeApi, log: Logger): void {
  node.onPeerEvent((ev) => {
    if (ev.type !== 'disconnected') return;
    const p = ev.peer;
    log.info(
      {
        peer: p.nodeId,
        direction: p.direction,
        messagesIn: p.messagesIn,
        messagesOut: p.messagesOut,
        treeAdvertsOut: p.gossip?.treeAdvertsSent ?? 0,
        bytesIn: p.bytesIn,
        bytesOut: p.bytesOut,
        seconds: Math.round((Date.now() - p.connectedSinceMs) / 1000),
      },
      'peer session totals',
    );
  });
}

async function runNode(o: DaemonOptions, version: string): Promise<void> {
  const log = await createDaemonLogger(o.logLevel, o.logFormat);
  let minerKey: Uint8Array | undefined;
  try {
    minerKey = o.minerKey === undefined ? undefined : await resolveMinerKey(o.minerKey);
  } catch (err) {
    log.fatal({ minerKey: o.minerKey }, `cannot start: ${(err as Error).message}`);
    process.exit(2);
  }
  const node = new Node({
    dataDir: o.dataDir,
    network: o.network,
    listenHost: o.listen.host,
    listenPort: o.listen.port,
    peers: o.peers,
    maxInbound: o.maxInbound,
    maxOutbound: o.maxOutbound,
    grpcAddress: formatHostPort(o.grpc),
    logger: log,
    tuning: o.tuning,
    seeds: o.seeds,
    discovery: { banDurationMs: o.banDurationMs, autoConnect: o.discovery },
    chain: { mine: o.mine, minerKey, mineEmpty: o.mineEmpty, verifierThreads: availableParallelism() },
    nat: o.nat,
  });

  /** Services started after the node; stopped in reverse order before it. */
  const stopHooks: (() => Promise<void>)[] = [];
  exitOnSignals(log, async () => {
    for (const stop of stopHooks.reverse()) {
      // One failing service must not keep the node from closing its peers and log.
      await stop().catch((err: unknown) => log.warn({ err }, 'a service did not stop cleanly'));
    }
    // Disconnects every peer with REQUESTED and flushes and closes the log.
    await node.stop();
  });

  logSessionTotals(node, log);
  // Subscribed before start so nothing delivered while starting is missed.
  printChat(node, process.stdout, log);
  const apiOptions = { address: formatHostPort(o.grpc), tlsCertPath: o.grpcTlsCert, tlsKeyPath: o.grpcTlsKey };
  try {
    checkApiOptions(apiOptions);
  } catch (err) {
    log.fatal({ grpc: apiOptions.address }, `cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  try {
    await node.start();
  } catch (err) {
    log.fatal({ err, dataDir: o.dataDir }, `cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  // The node itself logs "listening on <address>" (tests read the port from it).
  const info = await node.info();
  log.info({ dataDir: o.dataDir, config: o.configFile, messageLogSize: info.messageLogSize, grpc: info.grpcAddress, version }, 'node started');

  try {
    const api = await startApiServer({ ...apiOptions, node, chain: () => node.chainNode(), dataDir: o.dataDir, logger: log });
    stopHooks.push(() => api.stop());
    log.info({ address: api.address, port: api.port, tls: api.tls, cookie: api.cookiePath }, 'api listening');
  } catch (err) {
    log.fatal({ err }, `cannot start the gRPC API: ${(err as Error).message}`);
    await node.stop();
    process.exit(1);
  }

  if (o.metrics !== undefined) {
    try {
      const metrics = await startMetricsServer({ ...o.metrics, node, logger: log });
      stopHooks.push(() => metrics.stop());
      log.info({ address: metrics.address, port: metrics.port, url: `http://${metrics.address}/metrics` }, 'metrics listening');
    } catch (err) {
      log.fatal({ err }, `cannot start: ${(err as Error).message}`);
      await node.stop();
      process.exit(1);
    }
  }

  if (o.stdin && process.stdin.readable) broadcastLines(node, process.stdin, log);
}

export async function main(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const version = packageVersion();
  let parsed;
  try {
    parsed = parseDaemonArgs(argv, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`pheromones-node: ${err.message} (see --help)\n`);
    process.exit(2);
  }
  switch (parsed.command) {
    case 'help':
      process.stdout.write(usage(version));
      return;
    case 'version':
      process.stdout.write(`${version}\n`);
      return;
    case 'run':
      await runNode(parsed.options, version);
  }
}
