import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PheromonesError } from '../errors.js';
import { DEFAULT_TUNING, type NodeTuning } from '../node/config.js';
import { formatAddress, parseAddress, type HostPort } from '../peer/address.js';

/**
 * Command line and environment of `pheromones-node`. Every flag can also be
 * set by PHEROMONES_<FLAG> (upper case, dashes as underscores); a flag given
 * on the command line wins over the environment.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DaemonOptions {
  listen: HostPort;
  /** Persistent peers as "host:port", validated. */
  peers: string[];
  /** Seed addresses as "host:port" (names allowed, resolved by discovery). */
  seeds: string[];
  /** Length of bans for misbehaviour and of operator bans without a duration. */
  banDurationMs: number;
  /** Automatic outbound connections (docs/protocol.md, "Discovery"). */
  discovery: 'auto' | 'on' | 'off';
  dataDir: string;
  network: string;
  grpc: HostPort;
  /** Both set or both undefined (plaintext API on loopback otherwise). */
  grpcTlsCert: string | undefined;
  grpcTlsKey: string | undefined;
  maxInbound: number;
  maxOutbound: number;
  logLevel: LogLevel;
  /** False: do not read chat lines from stdin. */
  stdin: boolean;
  /** Only the tuning flags actually given; the node fills in the rest. */
  tuning: Partial<NodeTuning>;
  /** Mine blocks (--mine). */
  mine: boolean;
  /** --miner-key as given: a 66-hex public key, or a keystore key name or address. */
  minerKey: string | undefined;
  /** Mine blocks without transactions (--mine-empty). */
  mineEmpty: boolean;
  /** Where to serve Prometheus metrics (--metrics); undefined: not served. */
  metrics: HostPort | undefined;
}

export type ParsedCommand = { command: 'help' } | { command: 'version' } | { command: 'run'; options: DaemonOptions };

/** A bad flag or environment value; the daemon prints the message and exits 2. */
export class UsageError extends PheromonesError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}

type Kind = 'string' | 'boolean';

interface FlagSpec {
  type: Kind;
  /** Placeholder shown in --help. */
  value?: string;
  default?: string;
  help: string;
  multiple?: boolean;
  /** No environment variable (--help, --version). */
  noEnv?: boolean;
}

/** A day: the longest any tuning delay or timeout may be. */
const MAX_TUNING_MS = 24 * 3600 * 1000;
/** 64 GiB: beyond any machine this runs on; LevelDB takes the memory as it fills. */
const MAX_DB_CACHE_MIB = 65_536;

/** Tuning flags: the NodeTuning field each sets (at least 1) and its largest value. */
const TUNING_FLAGS = {
  'handshake-timeout': { field: 'handshakeTimeoutMs', max: MAX_TUNING_MS },
  'ping-interval': { field: 'pingIntervalMs', max: MAX_TUNING_MS },
  'ping-timeout': { field: 'pingTimeoutMs', max: MAX_TUNING_MS },
  'reconnect-base': { field: 'reconnectBaseMs', max: MAX_TUNING_MS },
  'reconnect-max': { field: 'reconnectMaxMs', max: MAX_TUNING_MS },
  'db-cache': { field: 'dbCacheMiB', max: MAX_DB_CACHE_MIB },
} as const satisfies Record<string, { field: keyof NodeTuning; max: number }>;

const FLAGS: Record<string, FlagSpec> = {
  listen: {
    type: 'string',
    value: '[host]:port',
    default: '0.0.0.0:7000',
    help: 'P2P listen address; ":7000" means all interfaces, port 0 picks a free port (logged)',
  },
  peer: {
    type: 'string',
    value: 'host:port',
    multiple: true,
    help: 'persistent peer, repeatable (env: comma-separated); redialled with backoff when the link drops',
  },
  seed: {
    type: 'string',
    value: 'host:port',
    multiple: true,
    help: 'bootstrap address, repeatable (env: comma-separated); a DNS name stands for each of its addresses; used while the peer store has too few addresses',
  },
  discovery: {
    type: 'string',
    value: 'mode',
    default: 'auto',
    help: 'automatic outbound connections: on, off, or auto (on once the node has had --seed; off for a node given only --peer)',
  },
  'ban-duration': { type: 'string', value: 'ms', default: String(24 * 3600 * 1000), help: 'how long a misbehaving peer stays banned' },
  'data-dir': { type: 'string', value: 'path', default: '~/.pheromones/<network>', help: 'identity key and message log' },
  network: { type: 'string', value: 'name', default: 'devnet', help: 'network name; nodes of other networks are refused' },
  grpc: { type: 'string', value: 'host:port', default: '127.0.0.1:7001', help: 'gRPC API address' },
  'grpc-tls-cert': { type: 'string', value: 'file', help: 'PEM certificate for the gRPC API (with --grpc-tls-key)' },
  'grpc-tls-key': { type: 'string', value: 'file', help: 'PEM private key for the gRPC API (with --grpc-tls-cert)' },
  metrics: {
    type: 'string',
    value: '[host:]port',
    help: 'serve Prometheus metrics at http://<host:port>/metrics (off unless given; a bare port or ":port" means 127.0.0.1; unauthenticated, so keep it private)',
  },
  'max-inbound': { type: 'string', value: 'n', default: '64', help: 'most inbound peers accepted' },
  'max-outbound': { type: 'string', value: 'n', default: '8', help: 'most outbound peers dialled' },
  'log-level': { type: 'string', value: 'level', default: 'info', help: LOG_LEVELS.join('|') },
  'no-stdin': { type: 'boolean', help: 'do not broadcast standard input lines on the chat topic' },
  'handshake-timeout': {
    type: 'string',
    value: 'ms',
    default: String(DEFAULT_TUNING.handshakeTimeoutMs),
    help: 'drop a connection not through the handshake by then',
  },
  'ping-interval': { type: 'string', value: 'ms', default: String(DEFAULT_TUNING.pingIntervalMs), help: 'keep-alive ping period' },
  'ping-timeout': { type: 'string', value: 'ms', default: String(DEFAULT_TUNING.pingTimeoutMs), help: 'drop a peer silent this long' },
  'reconnect-base': {
    type: 'string',
    value: 'ms',
    default: String(DEFAULT_TUNING.reconnectBaseMs),
    help: 'first redial delay of a persistent peer (doubles, with jitter)',
  },
  'reconnect-max': { type: 'string', value: 'ms', default: String(DEFAULT_TUNING.reconnectMaxMs), help: 'longest redial delay' },
  'db-cache': {
    type: 'string',
    value: 'MiB',
    default: String(DEFAULT_TUNING.dbCacheMiB),
    help: 'LevelDB memory: a quarter write buffer, the rest block cache',
  },
  mine: { type: 'boolean', help: 'mine blocks in a worker thread (docs/chain.md)' },
  'miner-key': {
    type: 'string',
    value: 'key',
    help: "public key credited in mined blocks: 66 hex characters, or a key name/address in the keystore ($PHEROMONES_KEYSTORE or ~/.pheromones/keys); default the node's identity key",
  },
  'mine-empty': { type: 'boolean', help: 'with --mine, also mine blocks without transactions' },
  help: { type: 'boolean', noEnv: true, help: 'show this help and exit' },
  version: { type: 'boolean', noEnv: true, help: 'print the version and exit' },
};

export function envName(flag: string): string {
  return `PHEROMONES_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function usage(version: string): string {
  const rows = Object.entries(FLAGS).map(([name, spec]) => {
    const left = `  --${name}${spec.value ? ` <${spec.value}>` : ''}`;
    const notes = [spec.default ? `default ${spec.default}` : '', spec.noEnv ? '' : `env ${envName(name)}`]
      .filter(Boolean)
      .join('; ');
    return `${left.padEnd(34)} ${spec.help}${notes ? ` (${notes})` : ''}`;
  });
  return [
    `pheromones-node ${version}: a pheromones peer-to-peer node.`,
    '',
    'Usage: pheromones-node [flags]',
    '',
    'Lines read from standard input are broadcast on the "chat" topic; chat messages',
    'are printed to standard output, logs go to standard error.',
    '',
    'Flags:',
    ...rows,
    '',
  ].join('\n');
}

/**
 * Parse "host:port", "[v6]:port" or ":port" (all interfaces when allowed).
 * `what` names the flag in error messages.
 */
export function parseHostPort(text: string, what: string, opts: { allowEmptyHost: boolean; allowPortZero: boolean }): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new UsageError(`${what}: "${text}" is not host:port`);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535 || (port === 0 && !opts.allowPortZero)) {
    throw new UsageError(`${what}: port ${m[3]} is out of range (${opts.allowPortZero ? 0 : 1}-65535)`);
  }
  if (host === '') {
    if (!opts.allowEmptyHost) throw new UsageError(`${what}: "${text}" has no host`);
    return { host: '0.0.0.0', port };
  }
  if (m[2] !== undefined && !/^[A-Za-z0-9.-]+$/.test(host)) throw new UsageError(`${what}: "${host}" is not a valid host name`);
  return { host, port };
}

/** host:port text for a parsed address, bracketing IPv6 hosts. */
export function formatHostPort({ host, port }: HostPort): string {
  return formatAddress(host, port);
}

/** A peer address, checked by the same rules the peer layer dials with. */
function parsePeer(text: string, source: string): string {
  try {
    const { host, port } = parseAddress(text);
    return formatAddress(host, port);
  } catch (err) {
    throw new UsageError(`${source}: ${(err as Error).message}`);
  }
}

function parseCount(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what}: "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what}: ${n} is out of range (${min}-${max})`);
  return n;
}

function parseBool(text: string, what: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(t)) return false;
  throw new UsageError(`${what}: "${text}" is not a boolean (true/false, 1/0)`);
}

function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return resolve(path);
}

/** parseArgs's own errors already name the flag; keep them to one line. */
function parseError(err: unknown): UsageError {
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new UsageError(message);
}

/**
 * Turn argv (without node and script) and the environment into options.
 * Throws UsageError on any unknown flag or bad value.
 */
export function parseDaemonArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommand {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map(([name, spec]) => [name, { type: spec.type, multiple: spec.multiple ?? false }]),
    );
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw parseError(err);
  }
  if (values.help === true) return { command: 'help' };
  if (values.version === true) return { command: 'version' };

  /** The flag's text: command line first, then environment, then undefined. */
  const text = (flag: string): { value: string; source: string } | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return { value: v, source: `--${flag}` };
    const e = env[envName(flag)];
    if (e !== undefined && e !== '') return { value: e, source: envName(flag) };
    return undefined;
  };
  const withDefault = (flag: string): { value: string; source: string } =>
    text(flag) ?? { value: FLAGS[flag]?.default ?? '', source: `--${flag}` };

  const listenText = withDefault('listen');
  const listen = parseHostPort(listenText.value, listenText.source, { allowEmptyHost: true, allowPortZero: true });

  const peerFlags = (values.peer as (string | boolean)[] | undefined)?.filter((v): v is string => typeof v === 'string');
  const peerTexts =
    peerFlags && peerFlags.length > 0
      ? peerFlags.map((value) => ({ value, source: '--peer' }))
      : (env[envName('peer')] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .map((value) => ({ value, source: envName('peer') }));
  const peers = [...new Set(peerTexts.map(({ value, source }) => parsePeer(value, source)))];

  const seedFlags = (values.seed as (string | boolean)[] | undefined)?.filter((v): v is string => typeof v === 'string');
  const seedTexts =
    seedFlags && seedFlags.length > 0
      ? seedFlags.map((value) => ({ value, source: '--seed' }))
      : (env[envName('seed')] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .map((value) => ({ value, source: envName('seed') }));
  const seeds = [...new Set(seedTexts.map(({ value, source }) => parsePeer(value, source)))];
  const banText = withDefault('ban-duration');
  const banDurationMs = parseCount(banText.value, banText.source, 1, 365 * 24 * 3600 * 1000);
  const discoveryText = withDefault('discovery');
  const discovery = discoveryText.value.trim().toLowerCase();
  if (discovery !== 'auto' && discovery !== 'on' && discovery !== 'off') {
    throw new UsageError(`${discoveryText.source}: "${discoveryText.value}" is not one of auto, on, off`);
  }

  const networkText = withDefault('network');
  const network = networkText.value.trim();
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/i.test(network)) {
    throw new UsageError(`${networkText.source}: "${network}" is not a network name (letters, digits, - and _, at most 32)`);
  }

  const dataDirText = text('data-dir');
  const dataDir = dataDirText ? expandHome(dataDirText.value.trim()) : join(homedir(), '.pheromones', network);

  const grpcText = withDefault('grpc');
  const grpc = parseHostPort(grpcText.value, grpcText.source, { allowEmptyHost: true, allowPortZero: true });
  const grpcTlsCert = text('grpc-tls-cert')?.value;
  const grpcTlsKey = text('grpc-tls-key')?.value;
  if ((grpcTlsCert === undefined) !== (grpcTlsKey === undefined)) {
    throw new UsageError('--grpc-tls-cert and --grpc-tls-key go together: give both or neither');
  }

  const countFlag = (flag: string, min: number, max: number): number => {
    const t = withDefault(flag);
    return parseCount(t.value, t.source, min, max);
  };
  const maxInbound = countFlag('max-inbound', 0, 100_000);
  const maxOutbound = countFlag('max-outbound', 0, 10_000);

  const levelText = withDefault('log-level');
  const logLevel = levelText.value.trim().toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`${levelText.source}: "${levelText.value}" is not one of ${LOG_LEVELS.join(', ')}`);
  }

  let noStdin = values['no-stdin'] === true;
  const noStdinEnv = env[envName('no-stdin')];
  if (!noStdin && noStdinEnv !== undefined) noStdin = parseBool(noStdinEnv, envName('no-stdin'));

  const tuning: Partial<NodeTuning> = {};
  for (const [flag, { field, max }] of Object.entries(TUNING_FLAGS)) {
    const t = text(flag);
    if (t) tuning[field] = parseCount(t.value, t.source, 1, max);
  }

  const boolFlag = (flag: string): boolean => {
    if (values[flag] === true) return true;
    const e = env[envName(flag)];
    return e === undefined ? false : parseBool(e, envName(flag));
  };
  const mine = boolFlag('mine');
  const mineEmpty = boolFlag('mine-empty');
  const minerKey = text('miner-key')?.value.trim();
  if ((mineEmpty || minerKey !== undefined) && !mine) throw new UsageError('--mine-empty and --miner-key need --mine');

  const metrics = parseMetricsAddress(text('metrics'));

  return {
    command: 'run',
    options: {
      listen,
      peers,
      seeds,
      banDurationMs,
      discovery,
      dataDir,
      network,
      grpc,
      grpcTlsCert: grpcTlsCert === undefined ? undefined : expandHome(grpcTlsCert),
      grpcTlsKey: grpcTlsKey === undefined ? undefined : expandHome(grpcTlsKey),
      maxInbound,
      maxOutbound,
      logLevel,
      stdin: !noStdin,
      tuning,
      mine,
      minerKey,
      mineEmpty,
      metrics,
    },
  };
}

/** --metrics: "host:port", or "port" / ":port" on loopback (metrics are not for the world). */
function parseMetricsAddress(t: { value: string; source: string } | undefined): HostPort | undefined {
  if (t === undefined) return undefined;
  const v = t.value.trim();
  if (/^\d+$/.test(v) || v.startsWith(':')) {
    return { host: '127.0.0.1', port: parseHostPort(`:${v.replace(/^:/, '')}`, t.source, { allowEmptyHost: true, allowPortZero: true }).port };
  }
  return parseHostPort(v, t.source, { allowEmptyHost: false, allowPortZero: true });
}
