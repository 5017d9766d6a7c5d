import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { publicKeyOf } from '../../src/chain/signature.js';
import { createKey } from '../../src/crypto/keystore.js';
import { parseDaemonArgs, UsageError } from '../../src/daemon/flags.js';
import { resolveMinerKey } from '../../src/daemon/miner-key.js';
import { testKey } from './chain-helpers.js';

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = parseDaemonArgs(argv, env);
  assert.equal(parsed.command, 'run');
  return parsed.options;
}

describe('daemon chain flags', () => {
  it('--mine, --mine-empty and --miner-key, from flags and environment', () => {
    const off = run([]);
    assert.equal(off.mine, false);
    assert.equal(off.mineEmpty, false);
    assert.equal(off.minerKey, undefined);
    const on = run(['--mine', '--mine-empty', '--miner-key', 'alice']);
    assert.deepEqual([on.mine, on.mineEmpty, on.minerKey], [true, true, 'alice']);
    const env = run([], { PHEROMONES_MINE: 'true', PHEROMONES_MINER_KEY: 'bob' });
    assert.deepEqual([env.mine, env.minerKey], [true, 'bob']);
  });

  it('--mine-empty and --miner-key without --mine are usage errors', () => {
    assert.throws(() => parseDaemonArgs(['--mine-empty'], {}), UsageError);
    assert.throws(() => parseDaemonArgs(['--miner-key', 'x'], {}), /need --mine/);
  });

  it('--miner-key takes a public key, or a keystore key by name or address without its passphrase', async () => {
    const pub = publicKeyOf(testKey(7));
    assert.deepEqual(await resolveMinerKey(Buffer.from(pub).toString('hex')), pub);
    await assert.rejects(resolveMinerKey('02' + '00'.repeat(32)), /not a secp256k1 public key/);
    const dir = await mkdtemp(join(tmpdir(), 'pheromones-minerkey-'));
    try {
      const info = await createKey(dir, 'miner', 'a passphrase', { scryptN: 1024 });
      assert.deepEqual(await resolveMinerKey('miner', dir), info.publicKey);
      assert.deepEqual(await resolveMinerKey(info.address, dir), info.publicKey);
      await assert.rejects(resolveMinerKey('nobody', dir), /--miner-key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
