/**
 * The daemon's config file (--config, default <data-dir>/pheromones.toml):
 * any flag by its name, under the environment and the command line, and one
 * clear line for a bad file.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { usage } from '../../src/daemon/flags.js';
import { rejectsFlags as rejects, runFlags as run } from '../helpers/daemon-flags.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pheromones-config-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('daemon config file', () => {
  it('is described by --help, with --log-format', () => {
    const text = usage('1.2.3');
    assert.match(text, /--config <file> .*default <data-dir>\/pheromones\.toml; env PHEROMONES_CONFIG/);
    assert.match(text, /--log-format <format> .*pretty.*default auto; env PHEROMONES_LOG_FORMAT/);
  });

  it('sets any flag by its name, with lists for repeatable flags and TOML numbers and booleans', async () => {
    const path = await file(
      'all.toml',
      [
        '# a comment',
        'listen = "127.0.0.1:7300"',
        'peer = ["a.example:1", "b.example:2"]',
        'seed = "s.example:3"',
        'network = "regtest"',
        'max-inbound = 12',
        'log-level = "debug"',
        'log-format = "pretty"',
        'no-stdin = true',
        'ping-interval = 1500',
        'mine = true',
        'mine-empty = true',
      ].join('\n'),
    );
    const o = run(['--config', path]);
    assert.deepEqual(o.listen, { host: '127.0.0.1', port: 7300 });
    assert.deepEqual(o.peers, ['a.example:1', 'b.example:2']);
    assert.deepEqual(o.seeds, ['s.example:3']);
    assert.equal(o.network, 'regtest');
    assert.equal(o.maxInbound, 12);
    assert.equal(o.logLevel, 'debug');
    assert.equal(o.logFormat, 'pretty');
    assert.equal(o.stdin, false);
    assert.deepEqual(o.tuning, { pingIntervalMs: 1500 });
    assert.equal(o.mine, true);
    assert.equal(o.mineEmpty, true);
    assert.equal(o.configFile, path);
  });

  it('ranks the command line over the environment over the file over the default', async () => {
    const path = await file('rank.toml', 'max-inbound = 10\nmax-outbound = 20\nlog-level = "warn"\npeer = ["f.example:1"]\n');
    const env = { PHEROMONES_CONFIG: path, PHEROMONES_MAX_OUTBOUND: '21', PHEROMONES_LOG_LEVEL: 'error' };
    const o = run(['--log-level', 'trace'], env);
    assert.equal(o.logLevel, 'trace', 'flag over environment and file');
    assert.equal(o.maxOutbound, 21, 'environment over file');
    assert.equal(o.maxInbound, 10, 'file over default');
    assert.deepEqual(o.peers, ['f.example:1']);
    assert.equal(o.logFormat, 'auto', 'default where nobody says');
    assert.deepEqual(run(['--peer', 'c.example:3'], env).peers, ['c.example:3'], 'a repeatable flag replaces the file list');
    assert.equal(run([], { ...env, PHEROMONES_MAX_INBOUND: '' }).maxInbound, 10, 'an empty variable is unset');
  });

  it('reads <data-dir>/pheromones.toml when --config is not given, and nothing when it is absent', async () => {
    const dataDir = await mkdtemp(join(dir, 'data-'));
    assert.equal(run(['--data-dir', dataDir]).configFile, undefined);
    await writeFile(join(dataDir, 'pheromones.toml'), 'max-inbound = 3\nnetwork = "regtest"\n');
    const o = run(['--data-dir', dataDir]);
    assert.equal(o.maxInbound, 3);
    assert.equal(o.configFile, join(dataDir, 'pheromones.toml'));
    assert.equal(o.dataDir, dataDir);
    const viaEnv = run([], { PHEROMONES_DATA_DIR: dataDir });
    assert.equal(viaEnv.maxInbound, 3);
  });

  it('rejects a data-dir or network in the default data dir\'s file, which would move the data dir away from it', async () => {
    // The default data dir is under the home directory: a temporary one for this test.
    const home = await mkdtemp(join(dir, 'home-'));
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const dataDir = join(home, '.pheromones', 'devnet');
      await mkdir(dataDir, { recursive: true });
      const path = join(dataDir, 'pheromones.toml');
      await writeFile(path, 'max-inbound = 9\n');
      assert.equal(run([]).maxInbound, 9, 'the default file of the default data dir is read');
      await writeFile(path, 'network = "regtest"\n');
      rejects([], {}, new RegExp(`^${path}: .*--config`));
      await writeFile(path, `data-dir = "${join(dir, 'elsewhere')}"\n`);
      rejects([], {}, new RegExp(`^${path}: .*--config`));
      // The command line or environment choosing the same network leaves the data dir where the file is.
      assert.equal(run(['--data-dir', dataDir]).dataDir, dataDir);
      // Given with --config, the same file may choose the data dir.
      assert.equal(run(['--config', path]).dataDir, join(dir, 'elsewhere'));
    } finally {
      process.env.HOME = saved;
    }
  });

  it('says which file and key are wrong, in one line', async () => {
    const unknown = await file('unknown.toml', 'listen = ":7000"\nlisten-port = 7000\n');
    rejects(['--config', unknown], {}, new RegExp(`^${unknown}: listen-port: unknown key`));
    const bad = await file('bad.toml', 'max-inbound = "lots"\n');
    rejects(['--config', bad], {}, new RegExp(`^${bad}: max-inbound: "lots" is not a whole number`));
    const badPeer = await file('bad-peer.toml', 'peer = ["a.example:1", "nonsense"]\n');
    rejects(['--config', badPeer], {}, new RegExp(`^${badPeer}: peer: "nonsense"`));
    const badBool = await file('bad-bool.toml', 'mine = "maybe"\n');
    rejects(['--config', badBool], {}, new RegExp(`^${badBool}: mine: "maybe" is not a boolean`));
    const list = await file('list.toml', 'listen = [":1", ":2"]\n');
    rejects(['--config', list], {}, new RegExp(`^${list}: listen: takes one value, not a list`));
    const table = await file('table.toml', '[grpc]\nport = 1\n');
    rejects(['--config', table], {}, new RegExp(`^${table}: grpc: a string, number or boolean is expected`));
    const broken = await file('broken.toml', 'listen = = "x"\n');
    rejects(['--config', broken], {}, new RegExp(`^${broken}:1:\\d+: not valid TOML`));
    const nested = await file('nested.toml', `config = "${broken}"\n`);
    rejects(['--config', nested], {}, /config: unknown key/);
    rejects(['--config', join(dir, 'missing.toml')], {}, /missing\.toml: cannot read the config file \(no such file\)/);
    // A bad value the environment overrides is never looked at.
    assert.equal(run(['--config', bad], { PHEROMONES_MAX_INBOUND: '4' }).maxInbound, 4);
  });
});
