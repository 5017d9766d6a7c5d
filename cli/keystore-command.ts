import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { defaultKeystoreDir, findKey, unlockKey, type KeyInfo, type UnlockedKey } from '../src/crypto/keystore.js';
import { PheromonesError } from '../src/errors.js';
import { BaseCommand } from './base-command.js';
import { canPrompt, promptHidden } from './terminal-prompt.js';

/**
 * What every `pheromones keys` command shares: the keystore location, where a
 * passphrase comes from, and `--json` output. One-line errors come from
 * BaseCommand. Keys commands are purely local: of the global flags they take
 * only --json, never the API connection ones.
 */

export const PASSWORD_ENV = 'PHEROMONES_PASSWORD';
const MAX_SECRET_FILE_BYTES = 64 * 1024;

export const keystoreFlag = Flags.string({
  description: 'keystore directory [default: ~/.pheromones/keys]',
  env: 'PHEROMONES_KEYSTORE',
  helpValue: '<dir>',
});

export const passwordFileFlag = Flags.string({
  description: `read the passphrase from the first line of this file (else $${PASSWORD_ENV}, else a prompt)`,
  helpValue: '<file>',
});

export const insecureFlag = Flags.boolean({
  description: 'store the key with an empty passphrase: anyone who can read the file has the key',
  default: false,
  exclusive: ['password-file'],
});

/** The public part of a key as the commands print it. */
export interface KeyView {
  name: string;
  address: string;
  publicKey: string;
  insecure: boolean;
  createdAt: string;
  path: string;
}

export function keyView(k: KeyInfo): KeyView {
  return {
    name: k.name,
    address: k.address,
    publicKey: Buffer.from(k.publicKey).toString('hex'),
    insecure: k.insecure,
    createdAt: k.createdAt,
    path: k.path,
  };
}

export abstract class KeystoreCommand extends BaseCommand {
  // Only --json: the connection flags mean nothing to a local command and would clutter its help.
  // The cast is needed because a static may not narrow the base's type; keys commands never read the others.
  static override baseFlags = { json: BaseCommand.baseFlags.json } as unknown as typeof BaseCommand.baseFlags;

  /** Prints the result: `value` as JSON with --json, else `label  value` lines for people. */
  protected emit(json: boolean, value: object, fields: () => [string, string][]): void {
    if (json) {
      this.log(JSON.stringify(value, null, 2));
      return;
    }
    const rows = fields();
    const width = Math.max(0, ...rows.map(([k]) => k.length));
    for (const [k, v] of rows) this.log(k === '' ? v : `${k.padEnd(width)}  ${v}`);
  }

  /** Tells the user something without touching stdout (which may be `--json`). */
  protected note(message: string): void {
    process.stderr.write(`${message}\n`);
  }
}

/** The keystore directory: --keystore / PHEROMONES_KEYSTORE, else ~/.pheromones/keys. */
export function keystoreDir(flag: string | undefined): string {
  return resolve(flag !== undefined && flag !== '' ? flag : defaultKeystoreDir());
}

/**
 * The passphrase for a key: --password-file, else $PHEROMONES_PASSWORD,
 * else a prompt (twice when choosing a new one). Never from a flag value:
 * that would land in shell history and `ps`.
 */
export async function readPassphrase(opts: { passwordFile: string | undefined; keyName: string; isNew: boolean }): Promise<string> {
  const empty = opts.isNew
    ? 'an empty passphrase is not allowed; choose one, or pass --insecure-no-password explicitly'
    : `empty passphrase for key ${opts.keyName}`;
  if (opts.passwordFile !== undefined) {
    const text = await readFirstLine(opts.passwordFile, 'password file');
    if (text === '') throw new PheromonesError('invalid-argument', `${empty} (the password file ${opts.passwordFile} is empty)`);
    return text;
  }
  const fromEnv = process.env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!canPrompt()) {
    throw new PheromonesError(
      'failed-precondition',
      `no passphrase for key ${opts.keyName}: use --password-file <file> or set ${PASSWORD_ENV}` +
        (opts.isNew ? ', or --insecure-no-password to store it unprotected' : '') +
        ' (no terminal to prompt on)',
    );
  }
  if (!opts.isNew) return promptHidden(`Passphrase for key ${opts.keyName}: `);
  const first = await promptHidden(`New passphrase for key ${opts.keyName}: `);
  if (first === '') throw new PheromonesError('invalid-argument', empty);
  const second = await promptHidden('Repeat the passphrase: ');
  if (first !== second) throw new PheromonesError('invalid-argument', 'the two passphrases differ; nothing was written');
  return first;
}

/**
 * Unlocks a key for signing in this process (chain commands use it with
 * --keystore, --password-file and a --from style key argument). Keys stored
 * with --insecure-no-password open without asking.
 */
export async function unlockForSigning(opts: {
  keystore: string | undefined;
  passwordFile: string | undefined;
  key: string;
}): Promise<UnlockedKey> {
  const dir = keystoreDir(opts.keystore);
  const info = await findKey(dir, opts.key);
  const passphrase = info.insecure ? '' : await readPassphrase({ passwordFile: opts.passwordFile, keyName: info.name, isNew: false });
  return unlockKey(dir, info.address, passphrase);
}

/** First line of a small file, without its line ending (so `echo pw > f` works). */
export async function readFirstLine(path: string, what: string): Promise<string> {
  let raw: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_SECRET_FILE_BYTES) throw new PheromonesError('invalid-argument', `${what} ${path} is ${size} bytes; expected one short line`);
      raw = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof PheromonesError) throw err;
    throw new PheromonesError('invalid-argument', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
  return raw.toString('utf8').split('\n', 1)[0]!.replace(/\r$/, '');
}
