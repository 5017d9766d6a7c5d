import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PheromonesError } from '../errors.js';
import { ConfigFileError, readConfigFile, type ConfigValue } from './config-file.js';
import { DEFAULT_TUNING, type NodeTuning } from '../node/config.js';
import { formatAddress, parseAddress, type HostPort } from '../peer/address.js';
import { parseGatewaySpec } from '../nat/gateway.js';
import { DEFAULT_NAT_LIFETIME_S, NAT_MODES, type NatConfig, type NatMode } from '../nat/port-mapper.js';

/**
 * Command line and environment of `pheromones-node`. Every flag can also be
 * set by PHEROMONES_<FLAG> (upper case, dashes as underscores); a flag given
 * on the command line wins over the environment, and both over the config
 * file (--config, default <data-dir>/pheromones.toml), whose keys are flag names.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The config file looked for in the data dir when --config is not given. */
export const CONFIG_FILE_NAME = 'pheromones.toml';

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
  /** auto: pretty on a terminal, JSON lines otherwise. */
  logFormat: LogFormat;
  /** The config file read, if any. */
  configFile: string | undefined;
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
  /** NAT port mapping (--nat, --nat-gateway, --nat-lifetime). */
  nat: NatConfig;
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
  'log-format': {
    type: 'string',
    value: 'format',
    default: 'auto',
    help: 'json (one object per line), pretty (one readable line per event), or auto: pretty on a terminal, json otherwise',
  },
  config: {
    type: 'string',
    value: 'file',
    default: `<data-dir>/${CONFIG_FILE_NAME}`,
    help: 'TOML file of flag values, keys named like the flags (listen = "127.0.0.1:7000", peer = ["a:7000"], mine = true); flags and environment override it; unknown keys are an error',
  },
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
  nat: {
    type: 'string',
    value: 'mode',
    default: 'none',
    help: 'map the listen port on the NAT gateway and advertise the external address: none, pmp (NAT-PMP), upnp (UPnP IGD), or auto (NAT-PMP, then UPnP)',
  },
  'nat-gateway': {
    type: 'string',
    value: 'gateway',
    help: 'the gateway for --nat: ip[:port] for NAT-PMP (port 5351 by default), or the http:// URL of a UPnP device description; default: the default route\'s gateway for NAT-PMP, an SSDP search (multicast) for UPnP',
  },
  'nat-lifetime': {
    type: 'string',
    value: 's',
    default: String(DEFAULT_NAT_LIFETIME_S),
    help: 'port-mapping lifetime asked for, seconds; renewed at half the lifetime granted',
  },
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

type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The config file found for these flags, and whether it is the default one in the data dir. */
interface LoadedConfig {
  path: string | undefined;
  atDefault: boolean;
  values: Map<string, ConfigValue>;
}

/**
 * --config (or PHEROMONES_CONFIG), else <data-dir>/pheromones.toml if it
 * exists, the data dir being the one flags and environment name (the file
 * cannot choose where it is looked for).
 */
function loadConfig(values: FlagValues, env: NodeJS.ProcessEnv): LoadedConfig {
  const given = typeof values.config === 'string' ? values.config : env[envName('config')] || undefined;
  let path: string;
  if (given !== undefined) {
    path = expandHome(given.trim());
  } else {
    const dir = typeof values['data-dir'] === 'string' ? values['data-dir'] : env[envName('data-dir')] || undefined;
    const network = (typeof values.network === 'string' ? values.network : env[envName('network')] || 'devnet').trim();
    // A bad network name is reported by the network check; no file is looked for under it.
    if (dir === undefined && !NETWORK_NAME.test(network)) return { path: undefined, atDefault: true, values: new Map() };
    path = join(dir === undefined ? join(homedir(), '.pheromones', network) : expandHome(dir.trim()), CONFIG_FILE_NAME);
  }
  const settable = (key: string): { multiple: boolean } | undefined => {
    const spec = FLAGS[key];
    return spec === undefined || spec.noEnv === true || key === 'config' ? undefined : { multiple: spec.multiple ?? false };
  };
  try {
    const read = readConfigFile(path, given !== undefined, settable);
    return { path: read === undefined ? undefined : path, atDefault: given === undefined, values: read ?? new Map() };
  } catch (err) {
    if (err instanceof ConfigFileError) throw new UsageError(err.message);
    throw err;
  }
}

const NETWORK_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/i;

/**
 * Turn argv (without node and script), the environment and the config file
 * into options. Throws UsageError on any unknown flag or key or bad value.
 */
export function parseDaemonArgs(argv: readonly string[], processEnv: NodeJS.ProcessEnv): ParsedCommand {
  let values: FlagValues;
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

  // The config file is one layer under the environment: every flag read from the
  // environment below sees the file's value when its variable is unset or empty.
  const config = loadConfig(values, processEnv);
  const env: NodeJS.ProcessEnv = Object.fromEntries([...config.values].map(([flag, { value }]) => [envName(flag), value]));
  for (const [name, value] of Object.entries(processEnv)) if (value !== undefined && value !== '') env[name] = value;
  /** The environment's or config file's text for a flag, named by where it came from. */
  const fallback = (flag: string): { value: string; source: string } | undefined => {
    const e = env[envName(flag)];
    if (e === undefined || e === '') return undefined;
    return { value: e, source: processEnv[envName(flag)] === e ? envName(flag) : (config.values.get(flag)?.source ?? envName(flag)) };
  };

  /** The flag's text: command line first, then environment, then config file, then undefined. */
  const text = (flag: string): { value: string; source: string } | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return { value: v, source: `--${flag}` };
    return fallback(flag);
  };
  const withDefault = (flag: string): { value: string; source: string } =>
    text(flag) ?? { value: FLAGS[flag]?.default ?? '', source: `--${flag}` };

  const listenText = withDefault('listen');
  const listen = parseHostPort(listenText.value, listenText.source, { allowEmptyHost: true, allowPortZero: true });

  /** A repeatable flag's comma-separated environment or config-file text, split. */
  const listText = (flag: string): { value: string; source: string }[] => {
    const t = fallback(flag);
    if (t === undefined) return [];
    return t.value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((value) => ({ value, source: t.source }));
  };
  const peerFlags = (values.peer as (string | boolean)[] | undefined)?.filter((v): v is string => typeof v === 'string');
  const peerTexts =
    peerFlags && peerFlags.length > 0
      ? peerFlags.map((value) => ({ value, source: '--peer' }))
      : listText('peer');
  const peers = [...new Set(peerTexts.map(({ value, source }) => parsePeer(value, source)))];

  const seedFlags = (values.seed as (string | boolean)[] | undefined)?.filter((v): v is string => typeof v === 'string');
  const seedTexts =
    seedFlags && seedFlags.length > 0
      ? seedFlags.map((value) => ({ value, source: '--seed' }))
      : listText('seed');
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
  if (!NETWORK_NAME.test(network)) {
    throw new UsageError(`${networkText.source}: "${network}" is not a network name (letters, digits, - and _, at most 32)`);
  }

  const dataDirText = text('data-dir');
  const dataDir = dataDirText ? expandHome(dataDirText.value.trim()) : join(homedir(), '.pheromones', network);
  if (config.path !== undefined && config.atDefault && resolve(dirname(config.path)) !== dataDir) {
    throw new UsageError(`${config.path}: its data-dir or network would move the data dir to ${dataDir}, away from this file; pass it with --config instead`);
  }

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

  const formatText = withDefault('log-format');
  const logFormat = formatText.value.trim().toLowerCase() as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) {
    throw new UsageError(`${formatText.source}: "${formatText.value}" is not one of ${LOG_FORMATS.join(', ')}`);
  }

  const boolFlag = (flag: string): boolean => {
    if (values[flag] === true) return true;
    const t = fallback(flag);
    return t === undefined ? false : parseBool(t.value, t.source);
  };
  const noStdin = boolFlag('no-stdin');

  const tuning: Partial<NodeTuning> = {};
  for (const [flag, { field, max }] of Object.entries(TUNING_FLAGS)) {
    const t = text(flag);
    if (t) tuning[field] = parseCount(t.value, t.source, 1, max);
  }

  const mine = boolFlag('mine');
  const mineEmpty = boolFlag('mine-empty');
  const minerKey = text('miner-key')?.value.trim();
  if ((mineEmpty || minerKey !== undefined) && !mine) throw new UsageError('--mine-empty and --miner-key need --mine');

  const nat = parseNatFlags(withDefault('nat'), text('nat-gateway'), withDefault('nat-lifetime'));
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
      logFormat,
      configFile: config.path,
      stdin: !noStdin,
      tuning,
      mine,
      minerKey,
      mineEmpty,
      nat,
      metrics,
    },
  };
}

type FlagText = { value: string; source: string };

function parseNatFlags(modeText: FlagText, gatewayText: FlagText | undefined, lifetimeText: FlagText): NatConfig {
  const mode = modeText.value.trim().toLowerCase() as NatMode;
  if (!NAT_MODES.includes(mode)) throw new UsageError(`${modeText.source}: "${modeText.value}" is not one of ${NAT_MODES.join(', ')}`);
  const lifetimeS = parseCount(lifetimeText.value, lifetimeText.source, 1, 7 * 24 * 3600);
  if (gatewayText === undefined) return { mode, lifetimeS };
  try {
    parseGatewaySpec(gatewayText.value);
  } catch (err) {
    throw new UsageError(`${gatewayText.source}: ${(err as Error).message}`);
  }
  if (mode === 'none') throw new UsageError(`${gatewayText.source} needs --nat pmp, upnp or auto`);
  return { mode, gateway: gatewayText.value.trim(), lifetimeS };
}

/** --metrics: "host:port", or "port" / ":port" on loopback (metrics are not for the world). */
function parseMetricsAddress(t: FlagText | undefined): HostPort | undefined {
  if (t === undefined) return undefined;
  const v = t.value.trim();
  if (/^\d+$/.test(v) || v.startsWith(':')) {
    return { host: '127.0.0.1', port: parseHostPort(`:${v.replace(/^:/, '')}`, t.source, { allowEmptyHost: true, allowPortZero: true }).port };
  }
  return parseHostPort(v, t.source, { allowEmptyHost: false, allowPortZero: true });
}
