import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAddress } from '../../src/crypto/address.js';
import { cli as runCli } from '../helpers/cli.js';

/** The CLI with stdin closed (not a terminal) and none of the user's PHEROMONES_* settings; scrypt makes key commands slow on a loaded machine. */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, env, { timeoutMs: 60_000 });

let dir: string;
let keystore: string;
let passwordFile: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pheromones-keys-cli-'));
  keystore = join(dir, 'keys');
  passwordFile = join(dir, 'pass');
  await writeFile(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('keys generate, list --json, show, export; wrong and missing passphrases fail in one line', async () => {
  const gen = await cli(['keys', 'generate', '--name', 'a', '--password-file', passwordFile, '--keystore', keystore]);
  assert.equal(gen.code, 0, gen.stderr);
  const address = /address\s+(phm1\S+)/.exec(gen.stdout)?.[1];
  assert.ok(address, gen.stdout);
  assert.equal(decodeAddress(address).length, 20);
  assert.match(gen.stdout, /name\s+a\n/);

  const file = await readFile(join(keystore, 'a.json'), 'utf8');
  assert.equal(JSON.parse(file).address, address);

  const list = await cli(['keys', 'list', '--json', '--keystore', keystore]);
  assert.equal(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout) as { keys: { name: string; address: string; publicKey: string }[] };
  assert.deepEqual(listed.keys.map((k) => [k.name, k.address]), [['a', address]]);
  assert.match(listed.keys[0]!.publicKey, /^0[23][0-9a-f]{64}$/);

  // The keystore also comes from PHEROMONES_KEYSTORE, and a key can be named by its address.
  const show = await cli(['keys', 'show', 'a'], { PHEROMONES_KEYSTORE: keystore });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`address\\s+${address}`));
  assert.match(show.stdout, new RegExp(`public key\\s+${listed.keys[0]!.publicKey}`));
  const byAddress = await cli(['keys', 'show', address, '--json', '--keystore', keystore]);
  assert.equal(JSON.parse(byAddress.stdout).name, 'a');

  const taken = await cli(['keys', 'generate', '--name', 'a', '--password-file', passwordFile, '--keystore', keystore]);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /already exists/);
  assert.equal(await readFile(join(keystore, 'a.json'), 'utf8'), file);

  const wrong = await cli(['keys', 'export', 'a', '--yes', '--keystore', keystore], { PHEROMONES_PASSWORD: 'not it' });
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stdout, '');
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
  assert.match(wrong.stderr, /wrong passphrase for key a/);

  // Not a terminal and no --yes: the secret is not printed.
  const piped = await cli(['keys', 'export', 'a', '--password-file', passwordFile, '--keystore', keystore]);
  assert.equal(piped.code, 1);
  assert.equal(piped.stdout, '');
  assert.match(piped.stderr, /without --yes/);

  const exported = await cli(['keys', 'export', 'a', '--yes', '--json', '--keystore', keystore], {
    PHEROMONES_PASSWORD: 'correct horse battery staple',
  });
  assert.equal(exported.code, 0, exported.stderr);
  const secret = (JSON.parse(exported.stdout) as { secretKey: string }).secretKey;
  assert.match(secret, /^[0-9a-f]{64}$/);
  assert.equal(file.includes(secret), false);

  // No passphrase source and no terminal: one clear line, nothing written.
  const none = await cli(['keys', 'generate', '--name', 'b', '--keystore', keystore]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no passphrase for key b: use --password-file/);
  const after = JSON.parse((await cli(['keys', 'list', '--json', '--keystore', keystore])).stdout) as { keys: unknown[] };
  assert.equal(after.keys.length, 1);
});

test('keys import from a secret file, then export gives the same secret', async () => {
  const secretFile = join(dir, 'secret.hex');
  const secret = 'ab'.repeat(31) + '01';
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  const imp = await cli(['keys', 'import', '--name', 'imported', '--secret-file', secretFile, '--insecure-no-password', '--keystore', keystore, '--json']);
  assert.equal(imp.code, 0, imp.stderr);
  const view = JSON.parse(imp.stdout) as { address: string; insecure: boolean };
  assert.equal(view.insecure, true);
  assert.equal((await readFile(join(keystore, 'imported.json'), 'utf8')).includes(secret), false);

  const exp = await cli(['keys', 'export', view.address, '--yes', '--keystore', keystore]);
  assert.equal(exp.code, 0, exp.stderr);
  assert.equal(exp.stdout.trim(), secret);

  const again = await cli(['keys', 'import', '--name', 'again', '--secret-file', secretFile, '--insecure-no-password', '--keystore', keystore]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already in the keystore as 'imported'/);
});
