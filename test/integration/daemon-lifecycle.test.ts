import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Node } from '../../src/node/node.js';
import { DAEMON_BIN, DaemonSet, REPO_ROOT, withTimeout } from '../helpers/daemon.js';

/** Flags, start failures, signals and the message log across restarts, through real daemon processes. */

/** A hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 15_000;

function runDaemonSync(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
  const r = spawnSync(process.execPath, [DAEMON_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...clean, ...env },
    encoding: 'utf8',
    timeout: 10_000,
    input: '',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pheromones-node lifecycle', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('--help lists the flags with defaults and exits 0; --version prints the version', () => {
    const help = runDaemonSync(['--help']);
    assert.equal(help.status, 0);
    for (const flag of ['--listen', '--peer', '--data-dir', '--network', '--grpc', '--max-inbound', '--max-outbound', '--log-level', '--no-stdin']) {
      assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
    }
    assert.match(help.stdout, /default 0\.0\.0\.0:7000/);
    assert.match(help.stdout, /PHEROMONES_LISTEN/);

    const version = runDaemonSync(['--version']);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('an unknown flag or a bad value (flag or environment) is one line on stderr and exit 2', () => {
    for (const [args, env, pattern] of [
      [['--bogus'], {}, /--bogus/],
      [['--listen', 'nowhere'], {}, /--listen: "nowhere" is not host:port/],
      [[], { PHEROMONES_MAX_INBOUND: 'lots' }, /PHEROMONES_MAX_INBOUND/],
    ] as const) {
      const r = runDaemonSync([...args], env);
      assert.equal(r.status, 2, `exit status for ${args.join(' ')}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
  });

  it('a second node on a data dir in use fails at once with a clear message; the first keeps serving', { timeout: TEST_TIMEOUT_MS }, async () => {
    const first = await net.start({ name: 'first' });
    const second = await net.spawn({ name: 'second', dataDir: first.dataDir });
    const status = await second.waitUntil(() => second.exitStatus, WAIT_MS, 'the second node to exit');
    assert.equal(status.code, 1);
    const fatal = second.logs.find((r) => r.level === 60);
    assert.ok(fatal, `a fatal log line\n${second.tail()}`);
    assert.match(fatal.msg, /data dir .* is in use by another pheromones-node/);
    assert.equal(first.running, true);
    await first.stopCleanly();
  });

  it('SIGTERM and SIGINT: peers are told why, and the process exits 0', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await net.start({ name: 'A', args: ['--no-stdin'] });
    const b = await net.start({ name: 'B', peers: [a.address], args: ['--no-stdin'] });
    const c = await net.start({ name: 'C', peers: [a.address], args: ['--no-stdin'] });
    await a.waitForPeers([b.nodeId, c.nodeId], WAIT_MS);

    await b.stopCleanly('SIGTERM');
    const byB = await a.waitForLog((r) => r.msg === 'peer disconnected' && r.peer === b.nodeId, WAIT_MS, 'B\'s disconnect at A');
    assert.equal(byB.cause, 'requested');

    await c.stopCleanly('SIGINT');
    const byC = await a.waitForLog((r) => r.msg === 'peer disconnected' && r.peer === c.nodeId, WAIT_MS, 'C\'s disconnect at A');
    assert.equal(byC.cause, 'requested');
    await a.stopCleanly();
  });

  it('a restarted node still holds its earlier messages in order, and new ones follow', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await net.start({ name: 'A' });
    for (const text of ['one', 'two', 'three']) {
      a.writeLine(text);
      await a.waitForChat((c) => c.text === text, WAIT_MS, `"${text}" delivered`);
    }
    await a.stopCleanly();

    const again = await net.restart(a);
    assert.equal(again.nodeId, a.nodeId, 'same identity from the same data dir');
    const started = await again.waitForLog((r) => r.msg === 'node started', WAIT_MS, '"node started"');
    assert.equal(started.messageLogSize, 3);
    for (const text of ['four', 'five']) {
      again.writeLine(text);
      await again.waitForChat((c) => c.text === text, WAIT_MS, `"${text}" delivered`);
    }
    await again.stopCleanly();

    // Read the log the daemons left behind.
    const node = new Node({
      dataDir: a.dataDir,
      network: 'devnet',
      listenHost: '127.0.0.1',
      listenPort: 0,
      peers: [],
      maxInbound: 1,
      maxOutbound: 1,
      grpcAddress: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
    });
    await withTimeout(node.start(), WAIT_MS, 'the node to open the data dir');
    try {
      const messages = await withTimeout(node.listMessages(0n, 100, 'chat'), WAIT_MS, 'listMessages');
      assert.deepEqual(
        messages.map((m) => new TextDecoder().decode(m.payload)),
        ['one', 'two', 'three', 'four', 'five'],
      );
      for (let i = 1; i < messages.length; i++) assert.ok(messages[i]!.seq > messages[i - 1]!.seq, 'seq increases');
      assert.ok(messages.every((m) => m.origin === a.nodeId));
    } finally {
      await withTimeout(node.stop(), WAIT_MS, 'the node to stop');
    }
  });
});
