/**
 * The real `pheromones` binary against real daemons: peers, messages, chat,
 * --json, and the one-line errors. Each CLI run is a process (~0.5 s of
 * oclif start-up), so checks share daemons and runs where they can.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { apiOf, type NodeApiClients } from '../helpers/api.js';
import { DaemonSet, freePort, pollUntil, REPO_ROOT } from '../helpers/daemon.js';
import { ApiChannel } from '../../src/api/client.js';
import { readCookie } from '../../src/api/auth.js';
import { reflect } from '../../src/api/reflection.js';
import { MessageService } from '../../src/gen/pheromones/admin/v1/message_pb.js';
import { NodeService } from '../../src/gen/pheromones/admin/v1/node_pb.js';
import { PeerService } from '../../src/gen/pheromones/admin/v1/peer_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../src/gen/grpc/health/v1/health_pb.js';

const CLI_BIN = join(REPO_ROOT, 'bin', 'run.js');
const run = promisify(execFile);
const CLI_TIMEOUT_MS = 30_000;

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
}

function spawnCli(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI_BIN, ...args], { cwd: REPO_ROOT, env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Run the CLI to completion (killed after CLI_TIMEOUT_MS), feeding `input` on stdin. */
async function cli(args: string[], input = ''): Promise<CliResult> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
  assert.equal(r.stderr, '', `${what} wrote to stderr`);
  return r.stdout;
}

/** One line on stderr, nothing on stdout, and this exit status. */
function failsWith(r: CliResult, code: number, line: RegExp): void {
  assert.equal(r.code, code, `exit status (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, line);
}

type Api = NodeApiClients;

describe('pheromones CLI against two daemons', () => {
  const net = new DaemonSet();
  let a: Api;
  let b: Api;

  before(async () => {
    [a, b] = await Promise.all([net.start({ name: 'a' }).then(apiOf), net.start({ name: 'b' }).then(apiOf)]);
  });
  after(async () => {
    a?.channel.close();
    b?.channel.close();
    await net.cleanup();
  });

  test('health is SERVING without a token, and reflection lists the services', async () => {
    const open = new ApiChannel({ address: a.rpc });
    try {
      assert.equal((await open.service(Health).check({})).status, HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      open.close();
    }
    const { services } = await reflect(a.channel.grpcClient, a.channel.metadata(), { listServices: true });
    for (const s of ['pheromones.admin.v1.NodeService', 'pheromones.admin.v1.PeerService', 'pheromones.admin.v1.MessageService', 'grpc.health.v1.Health']) {
      assert.ok(services.includes(s), `${s} in ${services.join(', ')}`);
    }
  });

  test('node info, as a table and as JSON', async () => {
    const [human, json] = await Promise.all([cli(['node', 'info', ...a.flags]), cli(['node', 'info', '--json', ...a.flags])]);
    assert.match(ok(human, 'node info'), new RegExp(`node id\\s+${a.daemon.nodeId}`));
    // The tree's repair and diagnosis counters reach the operator (nothing broadcast yet).
    assert.match(human.stdout, /gossip repairs\s+0 recovered by graft, 0 given up, 0 stale/);
    assert.match(human.stdout, /gossip tree\s+0 prune hints sent; duplicates: 0 on lazy links, 0 undecided/);
    assert.match(human.stdout, /gossip root\s+this node\n/, 'alone, a node is its own root');
    const info = JSON.parse(ok(json, 'node info --json')) as Record<string, unknown>;
    assert.equal(info.nodeId, a.daemon.nodeId);
    assert.equal(info.grpcAddress, a.rpc);
    assert.equal(info.network, 'devnet');
  });

  test('peers add connects two nodes and peers list shows the peer on both sides', async () => {
    const added = ok(await cli(['peers', 'add', b.daemon.address, ...a.flags]), 'peers add');
    assert.match(added, new RegExp(`^connected to ${b.daemon.nodeId} at 127\\.0\\.0\\.1:${b.daemon.port} \\(outbound\\)`));
    // B registers the inbound session on its own schedule.
    await pollUntil(async () => (await b.channel.service(PeerService).listPeers()).peers.length === 1, 10_000, 'b to list a');
    const [listA, listB, tableA] = await Promise.all([
      cli(['peers', 'list', '--json', ...a.flags]),
      cli(['peers', 'list', '--json', ...b.flags]),
      cli(['peers', 'list', ...a.flags]),
    ]);
    const peersA = (JSON.parse(ok(listA, 'peers list a')) as { peers: { nodeId: string; direction: string }[] }).peers;
    const peersB = (JSON.parse(ok(listB, 'peers list b')) as { peers: { nodeId: string; direction: string }[] }).peers;
    assert.deepEqual(peersA.map((p) => [p.nodeId, p.direction]), [[b.daemon.nodeId, 'PEER_DIRECTION_OUTBOUND']]);
    assert.deepEqual(peersB.map((p) => [p.nodeId, p.direction]), [[a.daemon.nodeId, 'PEER_DIRECTION_INBOUND']]);
    assert.match(ok(tableA, 'peers list'), new RegExp(`^NODE ID .*\\n${b.daemon.nodeId}\\s+127\\.0\\.0\\.1:${b.daemon.port}\\s`));
    // The two agree on a rooted tree: the lower id is the root, and the other hangs from it.
    const [low, high] = a.daemon.nodeId < b.daemon.nodeId ? [a, b] : [b, a];
    await pollUntil(async () => (await high.channel.service(NodeService).getInfo()).gossip?.treeParent === low.daemon.nodeId, 10_000, 'the tree advert');
    const [lowInfo, highInfo] = await Promise.all([cli(['node', 'info', ...low.flags]), cli(['node', 'info', ...high.flags])]);
    assert.match(ok(lowInfo, 'node info'), /gossip root\s+this node\n/);
    assert.match(ok(highInfo, 'node info'), new RegExp(`gossip root\\s+${low.daemon.nodeId}, \\d+ ms away through ${low.daemon.nodeId}\\n`));
  });

  test('msg send on one node is seen by msg watch on the other and by msg list on both', async () => {
    const watch = spawnCli(['msg', 'watch', '--json', ...b.flags]);
    const lines: string[] = [];
    let stderr = '';
    watch.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const rl = createInterface({ input: watch.stdout! });
    rl.on('line', (l) => lines.push(l));
    const exited = once(watch, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      // The watch is live once B's node has a message listener; no event says so, so send until seen.
      let sent = 0;
      await pollUntil(
        async () => {
          if (lines.length > 0) return true;
          ok(await cli(['msg', 'send', `hi ${sent++}`, ...a.flags]), 'msg send');
          return lines.length > 0;
        },
        20_000,
        'msg watch on b to print a message sent on a',
        200,
      );
      const first = JSON.parse(lines[0]!) as { message: { payload: string; origin: string; hops: number } };
      assert.match(Buffer.from(first.message.payload, 'base64').toString(), /^hi \d+$/);
      assert.equal(first.message.origin, a.daemon.nodeId);
      assert.equal(first.message.hops, 1);

      // Direct messages show up in the same watch.
      ok(await cli(['msg', 'send', 'psst', '--to', b.daemon.nodeId, ...a.flags]), 'msg send --to');
      await pollUntil(() => lines.some((l) => l.includes('"direct"')), 10_000, 'the direct message on b');
      const direct = JSON.parse(lines.find((l) => l.includes('"direct"'))!) as { direct: { from: string; payload: string } };
      assert.equal(direct.direct.from, a.daemon.nodeId);
      assert.equal(Buffer.from(direct.direct.payload, 'base64').toString(), 'psst');
    } finally {
      watch.kill('SIGINT');
    }
    const [code] = await exited;
    assert.equal(code, 0, `msg watch exits cleanly on Ctrl-C: ${stderr}`);
    assert.equal(stderr, '');

    const [listA, listB] = await Promise.all([cli(['msg', 'list', ...a.flags]), cli(['msg', 'list', '--json', ...b.flags])]);
    assert.match(ok(listA, 'msg list a'), /^SEQ\s+TIME\s+ORIGIN\s+TOPIC\s+HOPS\s+TEXT\n1\s+\S+\s+[0-9a-f]{8}\s+chat\s+0\s+hi 0$/m);
    const logB = JSON.parse(ok(listB, 'msg list b')) as { messages: { payload: string }[] };
    assert.ok(logB.messages.some((m) => Buffer.from(m.payload, 'base64').toString() === 'hi 0'));
  });

  test('chat broadcasts piped lines, prints them as they come back, and exits', async () => {
    const r = await cli(['chat', ...a.flags], 'first line\n\nsecond line\n');
    const out = ok(r, 'chat');
    assert.match(out, /^\[\d\d:\d\d:\d\d\] [0-9a-f]{8} \(hops 0\): first line$/m);
    assert.match(out, /^\[\d\d:\d\d:\d\d\] [0-9a-f]{8} \(hops 0\): second line$/m);
    await pollUntil(
      async () => {
        const { messages } = await b.channel.service(MessageService).listMessages({ topic: 'chat', limit: 1000 });
        return messages.some((m) => Buffer.from(m.payload).toString() === 'second line');
      },
      10_000,
      'b to log the chat lines',
    );
  });

  test('peers watch prints disconnections and connections; peers remove disconnects', async () => {
    const watch = spawnCli(['peers', 'watch', '--json', ...b.flags]);
    const lines: string[] = [];
    let stderr = '';
    watch.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: watch.stdout! }).on('line', (l) => lines.push(l));
    const exited = once(watch, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const peersA = a.channel.service(PeerService);
    try {
      // No event says when the watch is live: cycle the session until it reports one.
      await pollUntil(
        async () => {
          if (lines.length > 0) return true;
          await peersA.removePeer({ peer: b.daemon.nodeId }).catch(() => undefined);
          await peersA.addPeer({ address: b.daemon.address });
          return lines.length > 0;
        },
        20_000,
        'peers watch on b to print an event',
        300,
      );
      const events = lines.map((l) => JSON.parse(l) as { type: string; peer: { nodeId: string } });
      assert.ok(events.every((e) => e.peer.nodeId === a.daemon.nodeId));
      assert.ok(events.every((e) => e.type === 'PEER_EVENT_TYPE_DISCONNECTED' || e.type === 'PEER_EVENT_TYPE_CONNECTED'));
    } finally {
      watch.kill('SIGINT');
    }
    const [code] = await exited;
    assert.equal(code, 0, `peers watch exits cleanly on Ctrl-C: ${stderr}`);
    if ((await peersA.listPeers()).peers.length === 0) await peersA.addPeer({ address: b.daemon.address });

    const out = ok(await cli(['peers', 'remove', b.daemon.nodeId, '--json', ...a.flags]), 'peers remove');
    assert.equal((JSON.parse(out) as { peer: { nodeId: string } }).peer.nodeId, b.daemon.nodeId);
    assert.deepEqual((await a.channel.service(PeerService).listPeers()).peers, []);
  });

  test('errors: one line and a non-zero status', async () => {
    const emptyDir = await net.tempDir();
    const closedPort = await freePort();
    const [unreachable, wrongToken, noCookie, badAddress, unknownPeer] = await Promise.all([
      cli(['node', 'info', '--rpc', `127.0.0.1:${closedPort}`, '--token', 'x']),
      cli(['node', 'info', '--rpc', a.rpc, '--token', 'f'.repeat(64)]),
      cli(['peers', 'list', '--rpc', a.rpc, '--data-dir', emptyDir]),
      cli(['peers', 'add', 'not-an-address', ...a.flags]),
      cli(['peers', 'remove', '127.0.0.1:1', ...a.flags]),
    ]);
    failsWith(unreachable, 3, new RegExp(`^pheromones: cannot reach pheromones-node at 127\\.0\\.0\\.1:${closedPort} \\(connection refused\\): is it running\\?$`));
    failsWith(wrongToken, 4, /^pheromones: not authorized: the node refused the token given with --token$/);
    failsWith(noCookie, 4, new RegExp(`^pheromones: not authorized: no cookie at ${emptyDir}/api\\.cookie; pass --data-dir or --token$`));
    failsWith(badAddress, 1, /^pheromones: address: "not-an-address" is not a host:port address/);
    failsWith(unknownPeer, 1, /^pheromones: /);
  });
});

describe('daemon gRPC start-up rules', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  test('a non-loopback --grpc without TLS flags refuses to start, saying why', async () => {
    const d = await net.spawn({ args: ['--grpc', '0.0.0.0:0'] });
    const status = await d.exited;
    assert.equal(status.code, 1);
    assert.ok(
      d.logs.some((l) => /non-loopback .*--grpc-tls-cert and --grpc-tls-key/.test(l.msg)),
      `expected the reason in the log:\n${d.tail()}`,
    );
  });

  test('with TLS flags it serves a non-loopback address; the CLI talks TLS with --tls-cert', async () => {
    const dir = await net.tempDir();
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { timeout: 30_000 });
    const d = await net.start({ args: ['--grpc', '0.0.0.0:0', '--grpc-tls-cert', cert, '--grpc-tls-key', key] });
    const r = await d.waitForLog((l) => l.msg === 'api listening', 15_000, '"api listening"');
    assert.equal(r.tls, true);
    const rpc = `127.0.0.1:${r.port as number}`;
    const [secure, plain] = await Promise.all([
      cli(['node', 'info', '--json', '--rpc', rpc, '--data-dir', d.dataDir, '--tls-cert', cert]),
      cli(['node', 'info', '--rpc', rpc, '--data-dir', d.dataDir]),
    ]);
    assert.equal((JSON.parse(ok(secure, 'node info over TLS')) as { nodeId: string }).nodeId, d.nodeId);
    failsWith(plain, 3, /^pheromones: cannot reach pheromones-node at .*\(if it serves TLS, pass --tls-cert\)$/);
  });

  test('the cookie is removed at clean shutdown', async () => {
    const d = await net.start();
    const api = await apiOf(d);
    api.channel.close();
    await readCookie(d.dataDir);
    assert.equal((await d.stop()).code, 0);
    await assert.rejects(readCookie(d.dataDir), /no cookie/);
  });
});
