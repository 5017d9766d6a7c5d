import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { formatHostPort, parseDaemonArgs, parseHostPort, usage } from '../../src/daemon/flags.js';
import { rejectsFlags as rejects, runFlags as run } from '../helpers/daemon-flags.js';
import { formatChatLine } from '../../src/daemon/chat.js';
import { formatPrettyLine } from '../../src/daemon/pretty-log.js';

describe('daemon flags', () => {
  it('has the documented defaults', () => {
    const o = run([]);
    assert.deepEqual(o.listen, { host: '0.0.0.0', port: 7000 });
    assert.deepEqual(o.grpc, { host: '127.0.0.1', port: 7001 });
    assert.equal(o.network, 'devnet');
    assert.equal(o.dataDir, join(homedir(), '.pheromones', 'devnet'));
    assert.deepEqual(o.peers, []);
    assert.equal(o.maxInbound, 64);
    assert.equal(o.maxOutbound, 8);
    assert.equal(o.logLevel, 'info');
    assert.equal(o.stdin, true);
    assert.deepEqual(o.tuning, {});
    assert.equal(o.grpcTlsCert, undefined);
  });

  it('serves metrics only when --metrics is given, on loopback unless a host is named', () => {
    assert.equal(run([]).metrics, undefined);
    assert.deepEqual(run(['--metrics', '9464']).metrics, { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(run(['--metrics', ':0']).metrics, { host: '127.0.0.1', port: 0 });
    assert.deepEqual(run(['--metrics', '0.0.0.0:9464']).metrics, { host: '0.0.0.0', port: 9464 });
    assert.deepEqual(run([], { PHEROMONES_METRICS: '[::1]:9000' }).metrics, { host: '::1', port: 9000 });
    assert.deepEqual(run(['--metrics', '9001'], { PHEROMONES_METRICS: '9000' }).metrics, { host: '127.0.0.1', port: 9001 });
    rejects(['--metrics', '70000'], {}, /--metrics: port 70000 is out of range/);
    rejects(['--metrics', 'metrics.example'], {}, /--metrics: "metrics.example" is not host:port/);
    assert.match(usage('1.0.0'), /--metrics <\[host:\]port>.*Prometheus.*env PHEROMONES_METRICS/);
  });

  it('parses every flag', () => {
    const o = run([
      '--listen', '127.0.0.1:0',
      '--peer', '10.0.0.1:7000',
      '--peer', '[::1]:7002',
      '--peer', 'example.org:1',
      '--network', 'testnet',
      '--grpc', '127.0.0.1:0',
      '--grpc-tls-cert', '/tmp/c.pem',
      '--grpc-tls-key', '/tmp/k.pem',
      '--max-inbound', '3',
      '--max-outbound', '0',
      '--log-level', 'debug',
      '--no-stdin',
      '--handshake-timeout', '500',
      '--ping-interval', '200',
      '--ping-timeout', '900',
      '--reconnect-base', '50',
      '--reconnect-max', '1000',
      '--db-cache', '16',
    ]);
    assert.deepEqual(o.listen, { host: '127.0.0.1', port: 0 });
    assert.deepEqual(o.peers, ['10.0.0.1:7000', '[::1]:7002', 'example.org:1']);
    assert.equal(o.network, 'testnet');
    assert.equal(o.dataDir, join(homedir(), '.pheromones', 'testnet'), 'data dir follows the network');
    assert.deepEqual(o.grpc, { host: '127.0.0.1', port: 0 });
    assert.equal(o.grpcTlsCert, '/tmp/c.pem');
    assert.equal(o.grpcTlsKey, '/tmp/k.pem');
    assert.equal(o.maxInbound, 3);
    assert.equal(o.maxOutbound, 0);
    assert.equal(o.logLevel, 'debug');
    assert.equal(o.stdin, false);
    assert.deepEqual(o.tuning, {
      handshakeTimeoutMs: 500,
      pingIntervalMs: 200,
      pingTimeoutMs: 900,
      reconnectBaseMs: 50,
      reconnectMaxMs: 1000,
      dbCacheMiB: 16,
    });
  });

  it('reads the environment, and flags override it', () => {
    const env = {
      PHEROMONES_LISTEN: ':7100',
      PHEROMONES_PEER: 'a.example:1, b.example:2,,a.example:1',
      PHEROMONES_DATA_DIR: 'rel/dir',
      PHEROMONES_NETWORK: 'envnet',
      PHEROMONES_GRPC: '127.0.0.1:7200',
      PHEROMONES_MAX_INBOUND: '5',
      PHEROMONES_MAX_OUTBOUND: '6',
      PHEROMONES_LOG_LEVEL: 'WARN',
      PHEROMONES_NO_STDIN: '1',
      PHEROMONES_PING_INTERVAL: '1234',
    };
    const fromEnv = run([], env);
    assert.deepEqual(fromEnv.listen, { host: '0.0.0.0', port: 7100 });
    assert.deepEqual(fromEnv.peers, ['a.example:1', 'b.example:2']);
    assert.equal(fromEnv.dataDir, resolve('rel/dir'));
    assert.equal(fromEnv.network, 'envnet');
    assert.deepEqual(fromEnv.grpc, { host: '127.0.0.1', port: 7200 });
    assert.equal(fromEnv.maxInbound, 5);
    assert.equal(fromEnv.maxOutbound, 6);
    assert.equal(fromEnv.logLevel, 'warn');
    assert.equal(fromEnv.stdin, false);
    assert.deepEqual(fromEnv.tuning, { pingIntervalMs: 1234 });

    const flags = run(['--listen', '127.0.0.1:1', '--peer', 'c.example:3', '--max-inbound', '7', '--data-dir', '~/x'], env);
    assert.deepEqual(flags.listen, { host: '127.0.0.1', port: 1 });
    assert.deepEqual(flags.peers, ['c.example:3']);
    assert.equal(flags.maxInbound, 7);
    assert.equal(flags.dataDir, join(homedir(), 'x'));

    assert.equal(run([], { PHEROMONES_NO_STDIN: 'false' }).stdin, true);
  });

  it('answers --help and --version', () => {
    assert.deepEqual(parseDaemonArgs(['--help'], {}), { command: 'help' });
    assert.deepEqual(parseDaemonArgs(['--version', '--listen', 'bad'], {}), { command: 'version' });
    const text = usage('1.2.3');
    for (const flag of ['--listen', '--peer', '--data-dir', '--network', '--grpc', '--max-inbound', '--max-outbound', '--log-level', '--no-stdin', '--handshake-timeout']) {
      assert.ok(text.includes(flag), `usage mentions ${flag}`);
    }
    assert.match(text, /default 0\.0\.0\.0:7000/);
    assert.match(text, /PHEROMONES_MAX_OUTBOUND/);
    assert.match(text, /default 127\.0\.0\.1:7001/);
  });

  it('rejects unknown flags and bad values with one line naming the culprit', () => {
    rejects(['--frobnicate'], {}, /--frobnicate/);
    rejects(['stray'], {}, /stray/);
    rejects(['--listen'], {}, /--listen/);
    rejects(['--listen', '7000'], {}, /--listen: "7000" is not host:port/);
    rejects(['--listen', '1.2.3.4:65536'], {}, /out of range/);
    rejects(['--peer', ':7000'], {}, /--peer: ":7000"/);
    rejects(['--peer', 'host:0'], {}, /--peer: "host:0": port must be between 1 and 65535/);
    rejects(['--peer', 'ho st:1'], {}, /--peer/);
    rejects([], { PHEROMONES_PEER: 'x:1,nonsense' }, /PHEROMONES_PEER: "nonsense"/);
    rejects(['--max-inbound', '-1'], {}, /--max-inbound/);
    rejects(['--max-outbound', 'many'], {}, /--max-outbound: "many" is not a whole number/);
    rejects([], { PHEROMONES_MAX_OUTBOUND: '1.5' }, /PHEROMONES_MAX_OUTBOUND/);
    rejects(['--log-level', 'loud'], {}, /--log-level: "loud"/);
    rejects(['--network', 'no/slash'], {}, /--network/);
    rejects(['--grpc-tls-cert', 'c.pem'], {}, /--grpc-tls-key/);
    rejects(['--handshake-timeout', '0'], {}, /--handshake-timeout/);
    rejects([], { PHEROMONES_NO_STDIN: 'maybe' }, /PHEROMONES_NO_STDIN/);
  });

  it('parses and formats addresses', () => {
    const opts = { allowEmptyHost: true, allowPortZero: true };
    assert.deepEqual(parseHostPort(':0', 'x', opts), { host: '0.0.0.0', port: 0 });
    assert.deepEqual(parseHostPort('[::]:9', 'x', opts), { host: '::', port: 9 });
    assert.deepEqual(parseHostPort('localhost:65535', 'x', opts), { host: 'localhost', port: 65535 });
    assert.equal(formatHostPort({ host: '::1', port: 5 }), '[::1]:5');
    assert.equal(formatHostPort({ host: '127.0.0.1', port: 5 }), '127.0.0.1:5');
  });
});

describe('daemon output formats', () => {
  it('prints a chat line with local time, short origin and hops, neutralising control characters', () => {
    const at = new Date(2024, 0, 2, 3, 4, 5).getTime();
    const line = formatChatLine({
      seq: 1n,
      id: new Uint8Array(32),
      topic: 'chat',
      origin: 'abcdef0123456789'.repeat(4),
      hops: 2,
      timestampMs: at,
      receivedAtMs: at,
      payload: new TextEncoder().encode('hi \u001b[2Jthere'),
    });
    assert.equal(line, '[03:04:05] abcdef01 (hops 2): hi \uFFFD[2Jthere');
  });

  it('turns a pino JSON line into one readable line', () => {
    const at = new Date(2024, 0, 2, 3, 4, 5, 6).getTime();
    const id = 'abcdef0123456789'.repeat(4);
    const line = formatPrettyLine(
      JSON.stringify({ level: 30, time: at, pid: 1, hostname: 'h', msg: 'peer disconnected', peer: id, address: '127.0.0.1:7000', cause: 'banned', detail: 'two words' }),
    );
    assert.equal(line, '[03:04:05.006] INFO: peer disconnected (banned: two words) peer=abcdef0123456789… address=127.0.0.1:7000\n');
    const failed = formatPrettyLine(JSON.stringify({ level: 50, time: at, pid: 1, msg: 'cannot start', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n  at x' }, note: 'a b' }));
    assert.equal(failed, '[03:04:05.006] ERROR: cannot start: boom note="a b"\n');
  });
});
