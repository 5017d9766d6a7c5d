/**
 * What every `pheromones` command shares: the global flags (also read from
 * PHEROMONES_* variables), the API channel with its token and deadline,
 * `--json` output, and turning any failure into one line plus an exit status.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Flags } from '@oclif/core';
import { toJsonString, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { ApiChannel, ApiError } from '../src/api/client.js';
import { cookiePath, readCookie } from '../src/api/auth.js';
import { PheromonesError } from '../src/errors.js';
import { DEVNET_ENV, devnetStatePath, processAlive, readDevnetState } from './devnet-state.js';

/** Exit statuses, documented in docs/api.md. */
export const EXIT = { error: 1, usage: 2, unreachable: 3, unauthorized: 4 } as const;

/** A failure already phrased for the user. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** --rpc and --data-dir of node k of the running devnet. */
async function devnetTarget(k: number): Promise<{ rpc: string; 'data-dir': string }> {
  const path = devnetStatePath();
  const state = await readDevnetState(path).catch((err: unknown) => {
    throw new CliFailure(`--node ${k}: ${(err as Error).message}`, EXIT.usage);
  });
  if (state === undefined) throw new CliFailure(`--node ${k}: no devnet is running (no ${path}); start one with \`pheromones devnet\``, EXIT.unreachable);
  if (!processAlive(state.pid)) throw new CliFailure(`--node ${k}: the devnet of ${path} is gone (pid ${state.pid} is not running)`, EXIT.unreachable);
  const node = state.nodes.find((n) => n.index === k);
  if (node === undefined) throw new CliFailure(`--node ${k}: the devnet has nodes 0 to ${state.nodes.length - 1}`, EXIT.usage);
  return { rpc: node.grpc, 'data-dir': node.dataDir };
}

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    rpc: Flags.string({
      description: 'host:port of the node gRPC API',
      env: 'PHEROMONES_RPC',
      default: '127.0.0.1:7001',
      helpGroup: 'GLOBAL',
    }),
    'data-dir': Flags.string({
      description: "the node's data dir, where its api.cookie is read [default: ~/.pheromones/devnet]",
      env: 'PHEROMONES_DATA_DIR',
      helpGroup: 'GLOBAL',
    }),
    token: Flags.string({
      description: 'API token to send instead of the cookie',
      env: 'PHEROMONES_TOKEN',
      helpGroup: 'GLOBAL',
    }),
    'tls-cert': Flags.string({
      description: 'PEM certificate to trust: talk TLS to the endpoint',
      env: 'PHEROMONES_TLS_CERT',
      helpGroup: 'GLOBAL',
    }),
    timeout: Flags.integer({
      description: 'deadline for each call, in milliseconds',
      env: 'PHEROMONES_TIMEOUT',
      default: 10_000,
      min: 1,
      helpGroup: 'GLOBAL',
    }),
    node: Flags.integer({
      description: `talk to node <k> of the running \`pheromones devnet\` (its --rpc and --data-dir, from $${DEVNET_ENV} or ~/.pheromones/devnet.json)`,
      env: 'PHEROMONES_NODE',
      min: 0,
      helpValue: '<k>',
      helpGroup: 'GLOBAL',
    }),
    json: Flags.boolean({
      description: 'print responses as JSON (protobuf JSON mapping; streams print one object per line)',
      default: false,
      helpGroup: 'GLOBAL',
    }),
  };

  private channelInstance: ApiChannel | undefined;
  /** Where the token came from, for the "not authorized" message. */
  private tokenSource: { kind: 'flag' } | { kind: 'cookie'; path: string } | { kind: 'none'; path: string } = { kind: 'flag' };
  private rpcAddress = '';
  private usesTls = false;
  private timeoutMs = 10_000;

  /** Open the channel described by the global flags. */
  protected async connect(flags: {
    rpc: string;
    'data-dir'?: string | undefined;
    token?: string | undefined;
    'tls-cert'?: string | undefined;
    timeout: number;
    node?: number | undefined;
  }): Promise<ApiChannel> {
    if (flags.node !== undefined) flags = { ...flags, ...(await devnetTarget(flags.node)) };
    if (!/^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(flags.rpc.trim())) {
      throw new CliFailure(`--rpc: "${flags.rpc}" is not host:port (IPv6 as [addr]:port)`, EXIT.usage);
    }
    this.rpcAddress = flags.rpc.trim();
    this.usesTls = flags['tls-cert'] !== undefined;
    this.timeoutMs = flags.timeout;
    let token = flags.token;
    if (token === undefined) {
      const dataDir = expandHome(flags['data-dir'] ?? join(homedir(), '.pheromones', 'devnet'));
      const path = cookiePath(dataDir);
      try {
        token = await readCookie(dataDir);
        this.tokenSource = { kind: 'cookie', path };
      } catch (err) {
        // No cookie: try anyway (a node that is down says so more usefully); an
        // UNAUTHENTICATED answer is then reported with the path looked at.
        if (!(err instanceof PheromonesError) || err.kind !== 'not-found') throw new CliFailure(`not authorized: ${(err as Error).message}`, EXIT.unauthorized);
        this.tokenSource = { kind: 'none', path };
      }
    }
    let tlsCert: Buffer | undefined;
    if (flags['tls-cert'] !== undefined) {
      try {
        tlsCert = await readFile(expandHome(flags['tls-cert']));
      } catch (err) {
        throw new CliFailure(`cannot read --tls-cert ${flags['tls-cert']}: ${(err as Error).message}`, EXIT.usage);
      }
    }
    this.channelInstance = new ApiChannel({ address: this.rpcAddress, token, tlsCert, timeoutMs: flags.timeout });
    return this.channelInstance;
  }

  /** Print a response: protobuf JSON when --json, else whatever `human` renders. */
  protected output<D extends DescMessage>(json: boolean, schema: D, msg: MessageShape<D>, human: () => string, opts: { stream?: boolean } = {}): void {
    if (json) {
      this.log(toJsonString(schema, msg, { alwaysEmitImplicit: true, prettySpaces: opts.stream ? 0 : 2 }));
    } else {
      const text = human();
      if (text !== '') this.log(text);
    }
  }

  /** The one-line message for a failed call. */
  protected describeFailure(err: unknown): CliFailure {
    if (err instanceof CliFailure) return err;
    if (err instanceof ApiError) {
      if (err.isConnectionFailure) {
        const last = /Last error: (?:Error: )?(.*?)(?:\. Resolution note|$)/.exec(err.details)?.[1] ?? '';
        const why = /ECONNREFUSED/.test(last)
          ? 'connection refused'
          : /ENOTFOUND|EAI_AGAIN/.test(last)
            ? 'unknown host'
            : // grpc-js stamps some errors with the time; it only clutters the line.
              last.replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/, '').toLowerCase() || 'no connection';
        const hint = this.usesTls || why === 'connection refused' ? 'is it running?' : 'is it running? (if it serves TLS, pass --tls-cert)';
        return new CliFailure(`cannot reach pheromones-node at ${this.rpcAddress} (${why}): ${hint}`, EXIT.unreachable);
      }
      if (err.code === status.UNAUTHENTICATED) {
        const src = this.tokenSource;
        const msg =
          src.kind === 'none'
            ? `not authorized: no cookie at ${src.path}; pass --data-dir or --token`
            : src.kind === 'cookie'
              ? `not authorized: the node refused the cookie at ${src.path} (is --data-dir this node's data dir?)`
              : 'not authorized: the node refused the token given with --token';
        return new CliFailure(msg, EXIT.unauthorized);
      }
      if (err.code === status.DEADLINE_EXCEEDED && /^Deadline exceeded/.test(err.details)) {
        return new CliFailure(`no answer from pheromones-node at ${this.rpcAddress} within ${this.timeoutMs} ms`, EXIT.unreachable);
      }
      return new CliFailure(err.details || err.codeName, EXIT.error);
    }
    return new CliFailure((err as Error)?.message ?? String(err), EXIT.error);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's parse errors are multi-line with the usage: one line is enough.
    if ('parse' in err || /^Parsing --/.test(err.message)) {
      const text = err.message
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !/^See more help/.test(l))
        .join(' ')
        .replace(/:?\s+/g, (m) => (m.startsWith(':') ? ': ' : ' '))
        .replace(/^Parsing (--\S+) /, '$1: ');
      process.stderr.write(`pheromones: ${text} (see --help)\n`);
      process.exitCode = EXIT.usage;
      return undefined;
    }
    // Other oclif errors (--help, this.exit) keep their handling.
    if (err.oclif !== undefined) return super.catch(err);
    const failure = this.describeFailure(err);
    process.stderr.write(`pheromones: ${failure.message}\n`);
    process.exitCode = failure.exitCode;
    return undefined;
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.channelInstance?.close();
    return super.finally(err);
  }
}
