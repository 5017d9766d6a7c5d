/**
 * `pheromones devnet` through the real CLI binary: N real daemons, commands
 * aimed at node k with --node, blocks mined, and no process left behind on
 * Ctrl-C or when a node cannot start.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import type { DevnetState } from '../../cli/devnet-state.js';
import { processAlive } from '../../cli/devnet-state.js';
import { makeTempDir, pollUntil, withTimeout } from '../helpers/daemon.js';
import { cli, ok, spawnCli } from './chain-harness.js';

/** Starting three daemons on a busy two-core machine. */
const START_MS = 120_000;
const WAIT_MS = 60_000;

/** Pids of live processes whose command line mentions `text` (a devnet's dir: its daemons). */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

describe('pheromones devnet', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  test('starts linked nodes, takes commands with --node, mines, and stops every node on SIGINT', async () => {
    const tmp = await makeTempDir('pheromones-devnet-test-');
    dirs.push(tmp);
    const env = { PHEROMONES_DEVNET: join(tmp, 'devnet.json') };
    const devnet = spawnCli(['devnet', '--nodes', '3', '--json'], env);
    let stderr = '';
    devnet.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => devnet.once('exit', (code) => resolve(code)));
    try {
      const lines = createInterface({ input: devnet.stdout, crlfDelay: Infinity });
      const first = new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        void exited.then((code) => reject(new Error(`devnet exited (${code}) before printing its nodes: ${stderr}`)));
      });
      const state = JSON.parse(await withTimeout(first, START_MS, 'the devnet JSON line')) as DevnetState;

      assert.equal(state.nodes.length, 3);
      assert.equal(state.network, 'regtest');
      assert.deepEqual(
        state.nodes.map((n) => [n.index, n.miner]),
        [[0, true], [1, false], [2, false]],
      );
      for (const n of state.nodes) {
        assert.match(n.grpc, /^127\.0\.0\.1:\d+$/);
        assert.ok(existsSync(join(n.dataDir, 'api.cookie')), `node ${n.index} has its cookie in ${n.dataDir}`);
        assert.ok(processAlive(n.pid), `node ${n.index} runs`);
      }
      assert.deepEqual(JSON.parse(await readFile(env.PHEROMONES_DEVNET, 'utf8')), state, 'the state file says what was printed');

      // --node picks the node; so does PHEROMONES_NODE.
      ok(await cli(['msg', 'send', 'hello devnet', '--node', '0'], env), 'msg send --node 0');
      const info = JSON.parse(ok(await cli(['node', 'info', '--json'], { ...env, PHEROMONES_NODE: '1' }), 'node info')) as { nodeId: string };
      assert.equal(info.nodeId, state.nodes[1]!.nodeId);

      await pollUntil(
        async () => ok(await cli(['msg', 'list', '--node', '2'], env), 'msg list --node 2').includes('hello devnet'),
        WAIT_MS,
        'the message on node 2',
        500,
      );
      // The message is a transaction; node 0 mines it and node 2 follows.
      const head = await pollUntil(
        async () => {
          const res = JSON.parse(ok(await cli(['chain', 'head', '--json', '--node', '2'], env), 'chain head --node 2')) as { head: { height: string } };
          return Number(res.head.height) >= 1 ? res.head : undefined;
        },
        WAIT_MS,
        'a mined block on node 2',
        500,
      );
      assert.ok(Number(head.height) >= 1);

      const outOfRange = await cli(['node', 'info', '--node', '3'], env);
      assert.equal(outOfRange.code, 2);
      assert.match(outOfRange.stderr, /^pheromones: --node 3: the devnet has nodes 0 to 2\n$/);

      devnet.kill('SIGINT');
      assert.equal(await withTimeout(exited, WAIT_MS, 'the devnet to stop'), 0, `devnet exit status (stderr: ${stderr})`);
      for (const n of state.nodes) assert.ok(!processAlive(n.pid), `node ${n.index} (pid ${n.pid}) is gone`);
      assert.deepEqual(await processesMentioning(state.dir), []);
      assert.ok(!existsSync(env.PHEROMONES_DEVNET), 'state file removed');
      assert.ok(!existsSync(state.dir), 'temporary data removed');

      const gone = await cli(['node', 'info', '--node', '0'], env);
      assert.equal(gone.code, 3);
      assert.match(gone.stderr, /^pheromones: --node 0: no devnet is running/);
    } finally {
      devnet.kill('SIGKILL');
    }
  });

  test('its daemons stop by themselves when the devnet is killed with SIGKILL', async () => {
    const tmp = await makeTempDir('pheromones-devnet-test-');
    dirs.push(tmp);
    const dir = join(tmp, 'net');
    const env = { PHEROMONES_DEVNET: join(tmp, 'devnet.json') };
    const devnet = spawnCli(['devnet', '--nodes', '2', '--json', '--dir', dir], env);
    let stderr = '';
    devnet.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<void>((resolve) => devnet.once('exit', () => resolve()));
    try {
      const lines = createInterface({ input: devnet.stdout, crlfDelay: Infinity });
      const first = new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        void exited.then(() => reject(new Error(`devnet exited before printing its nodes: ${stderr}`)));
      });
      const state = JSON.parse(await withTimeout(first, START_MS, 'the devnet JSON line')) as DevnetState;
      for (const n of state.nodes) assert.ok(processAlive(n.pid), `node ${n.index} runs`);
      // SIGKILL: the devnet gets no chance to stop its nodes.
      devnet.kill('SIGKILL');
      await withTimeout(exited, WAIT_MS, 'the devnet to die');
      await pollUntil(async () => state.nodes.every((n) => !processAlive(n.pid)), WAIT_MS, 'the orphaned daemons to stop');
      assert.deepEqual(await processesMentioning(dir), [], 'no daemon left running');
    } finally {
      devnet.kill('SIGKILL');
      for (const pid of await processesMentioning(dir)) process.kill(pid, 'SIGKILL');
    }
  });

  test('a node that cannot start stops the others, and the devnet says why in one line', async () => {
    const tmp = await makeTempDir('pheromones-devnet-test-');
    dirs.push(tmp);
    const dir = join(tmp, 'net');
    // Node 1's data dir holds a config file it refuses: node 0 is up by then and must be stopped.
    await mkdir(join(dir, 'node1'), { recursive: true });
    await writeFile(join(dir, 'node1', 'pheromones.toml'), 'bogus = 1\n');
    const env = { PHEROMONES_DEVNET: join(tmp, 'devnet.json') };
    const r = await cli(['devnet', '--nodes', '2', '--dir', dir], env);
    assert.equal(r.code, 1, `exit status (stderr: ${r.stderr})`);
    const errLines = r.stderr.trimEnd().split('\n');
    assert.equal(errLines.length, 1, r.stderr);
    assert.match(errLines[0]!, /^pheromones: node 1 did not start: .*node1\/pheromones\.toml: bogus: unknown key/);
    assert.match(r.stdout, /^node 0 \| .* INFO: listening on 127\.0\.0\.1:\d+/m, 'node 0 had started');
    assert.deepEqual(await processesMentioning(dir), [], 'no daemon left running');
    assert.ok(!existsSync(env.PHEROMONES_DEVNET), 'no state file for a devnet that never ran');
    assert.ok(existsSync(join(dir, 'node0', 'daemon.log')), 'a given --dir is kept, with the logs');
  });
});
