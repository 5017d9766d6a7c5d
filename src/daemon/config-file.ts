import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PheromonesError } from '../errors.js';

/**
 * The daemon's config file: TOML whose keys are flag names and whose values
 * are what the flag would be given (`listen = "127.0.0.1:7000"`,
 * `max-inbound = 16`, `mine = true`, `peer = ["a:7000", "b:7000"]`). It is
 * read into flag texts that the flag parser treats like environment values,
 * one layer below them; nothing here knows any particular flag.
 */

/** What the file needs to know about a flag to accept a key for it. */
export interface ConfigurableFlag {
  /** Repeatable: an array of values is accepted. */
  multiple: boolean;
}

/** One key of the file: its value as flag text, and where it came from for error messages. */
export interface ConfigValue {
  value: string;
  /** "<file>: <key>", the prefix of every error about this value. */
  source: string;
}

/** smol-toml, loaded only when there is a file to parse: most starts have none, and every start pays for an import. */
function toml(): typeof import('smol-toml') {
  return createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');
}

/** Largest config file read: far beyond any hand-written one. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export class ConfigFileError extends PheromonesError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * Read `path`. A missing file is `undefined` when `required` is false (the
 * default location), an error otherwise. Every problem is one line naming
 * the file, and the key where there is one.
 */
export function readConfigFile(
  path: string,
  required: boolean,
  flag: (key: string) => ConfigurableFlag | undefined,
): Map<string, ConfigValue> | undefined {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_CONFIG_BYTES) throw new ConfigFileError(`${path}: config file is over ${MAX_CONFIG_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    throw new ConfigFileError(`${path}: cannot read the config file (${code === 'ENOENT' ? 'no such file' : (err as Error).message})`);
  }
  let doc: Record<string, unknown>;
  const { parse, TomlError } = toml();
  try {
    doc = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const why = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigFileError(`${path}:${err.line}:${err.column}: not valid TOML: ${why}`);
  }
  const values = new Map<string, ConfigValue>();
  for (const [key, raw] of Object.entries(doc)) {
    const source = `${path}: ${key}`;
    const spec = flag(key);
    if (spec === undefined) throw new ConfigFileError(`${source}: unknown key (keys are pheromones-node flag names without the dashes)`);
    let value: string | undefined;
    if (Array.isArray(raw)) {
      if (!spec.multiple) throw new ConfigFileError(`${source}: takes one value, not a list`);
      const items = raw.map(scalarText);
      if (items.some((i) => i === undefined)) throw new ConfigFileError(`${source}: a list of strings is expected`);
      // The environment's form of a repeatable flag: comma-separated.
      value = items.join(',');
    } else {
      value = scalarText(raw);
    }
    if (value === undefined) throw new ConfigFileError(`${source}: a string, number or boolean is expected, not a table or date`);
    values.set(key, { value, source });
  }
  return values;
}
