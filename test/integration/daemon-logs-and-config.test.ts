/**
 * Real daemons: --log-format pretty gives one readable line per event while a
 * pipe still gets JSON lines by default, and a config file stands in for flags
 * (a bad one stops the daemon with one line).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DaemonSet } from '../helpers/daemon.js';

const WAIT_MS = 30_000;

describe('daemon log format and config file', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  test('--log-format pretty prints readable lines; a pipe gets JSON by default', async () => {
    const a = await net.start({ name: 'json' });
    const b = await net.spawn({ name: 'pretty', peers: [a.address], args: ['--log-format', 'pretty'] });
    const connected = await b.waitUntil(() => b.stderrText.find((l) => / INFO: peer connected /.test(l)), WAIT_MS, 'a pretty "peer connected" line');
    assert.match(connected, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: peer connected peer=[0-9a-f]{16}… address=127\.0\.0\.1:\d+ direction=outbound$/);
    await b.stopCleanly();
    assert.equal(b.logs.length, 0, 'no JSON line from the pretty daemon');
    for (const line of b.stderrText) assert.doesNotMatch(line, /[{}]/, `no JSON braces: ${line}`);
    assert.ok(
      b.stderrText.some((l) => / INFO: peer disconnected \(requested: .*\) peer=/.test(l)),
      `the reason of a disconnect sits next to it:\n${b.stderrText.join('\n')}`,
    );
    // The default daemon's stderr is a pipe: JSON lines only, as log collectors (and these tests) read it.
    await a.waitForLog((r) => r.msg === 'peer connected', WAIT_MS, 'a JSON "peer connected" record');
    assert.deepEqual(a.stderrText, []);
  });

  test('a config file sets flags, the command line overrides it, a bad value stops the daemon in one line', async () => {
    const dataDir = await net.tempDir();
    // In the data dir: read without --config. The daemon helper gives --listen, --grpc and --data-dir itself.
    // The file's log-level would hide the "listening" line the helper waits for: the command line's wins.
    await writeFile(join(dataDir, 'pheromones.toml'), 'network = "regtest"\nmine = true\nlog-level = "warn"\n');
    const d = await net.start({ name: 'configured', dataDir, args: ['--log-level', 'info'] });
    const started = await d.waitForLog((r) => r.msg === 'node started', WAIT_MS, '"node started"');
    assert.equal(started.config, join(dataDir, 'pheromones.toml'));
    assert.equal(d.logs.find((r) => r.msg.startsWith('chain loaded'))?.network, 'regtest');
    await d.waitForLog((r) => r.msg === 'mining', WAIT_MS, 'mining, as the file says');
    await d.stopCleanly();

    const badFile = join(await net.tempDir(), 'bad.toml');
    await writeFile(badFile, 'listen = "127.0.0.1:0"\nmax-inbound = "many"\n');
    const bad = await net.spawn({ name: 'bad', args: ['--config', badFile] });
    const status = await bad.exited;
    assert.equal(status.code, 2);
    assert.deepEqual(bad.stderrText, [`pheromones-node: ${badFile}: max-inbound: "many" is not a whole number (see --help)`]);
  });
});
