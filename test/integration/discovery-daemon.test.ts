/**
 * Discovery through real `pheromones-node` processes and the `pheromones`
 * CLI: bootstrap from a seed, restart from the peer store alone, DHT lookups,
 * bans that survive a restart, and an inbound connection storm.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ApiChannel } from '../../src/api/client.js';
import { readCookie } from '../../src/api/auth.js';
import { generateIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { NodeService } from '../../src/gen/pheromones/admin/v1/node_pb.js';
import { dialSecure, PROTOCOL_VERSION } from '../../src/transport/index.js';
import type { SecureConnection } from '../../src/transport/types.js';
import { DaemonSet, pollUntil, REPO_ROOT, type Daemon } from '../helpers/daemon.js';
import { rpcOf } from '../helpers/api.js';

const CLI_BIN = join(REPO_ROOT, 'bin', 'run.js');
const exec = promisify(execFile);
const WAIT_MS = 20_000;

/** Run the CLI against `d`; resolves with stdout, rejects with stderr on a non-zero exit. */
async function cli(d: Daemon, args: string[]): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
  const { stdout } = await exec(process.execPath, [CLI_BIN, ...args, '--rpc', await rpcOf(d), '--data-dir', d.dataDir], {
    cwd: REPO_ROOT,
    env,
    timeout: 30_000,
  });
  return stdout;
}

const peersOf = (d: Daemon): Set<string> => new Set(d.connectedPeers().keys());

describe('discovery with real daemons', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('bootstraps from one seed, finds nodes through the DHT, and a node restarted without --seed reconnects from its store', async () => {
    const seed = await net.start({ name: 'seed', args: ['--no-stdin'] });
    const seedArgs = ['--no-stdin', '--seed', seed.address];
    const a = await net.start({ name: 'a', args: seedArgs });
    const b = await net.start({ name: 'b', args: seedArgs });
    const c = await net.start({ name: 'c', args: seedArgs });
    await a.waitForPeers([seed.nodeId, b.nodeId, c.nodeId], WAIT_MS);
    await b.waitForPeers([a.nodeId, c.nodeId], WAIT_MS);

    // d keeps b only (a fixed peer, so no automatic connections) and takes no inbound.
    const d = await net.start({ name: 'd', args: ['--no-stdin', '--peer', b.address, '--max-inbound', '0'] });
    await d.waitForPeers([b.nodeId], WAIT_MS);
    const target = [a, c].find((x) => !peersOf(d).has(x.nodeId))!;
    assert.ok(target !== undefined, 'd is connected to nobody but b');
    const found = JSON.parse(await cli(d, ['peers', 'find', target.nodeId, '--json'])) as { nodeId: string; address: string };
    assert.equal(found.nodeId, target.nodeId);
    assert.equal(found.address, target.address);
    assert.ok(!peersOf(d).has(target.nodeId), 'd found the node without connecting to it');

    const known = JSON.parse(await cli(a, ['peers', 'known', '--json'])) as { peers: { address: string; nodeId?: string }[] };
    for (const x of [b, c]) assert.ok(known.peers.some((k) => k.address === x.address && k.nodeId === x.nodeId), `a's store holds ${x.name}`);

    await seed.stop();
    await a.stop();
    const again = await net.start({ name: 'a2', dataDir: a.dataDir, listen: a.address, args: ['--no-stdin'] });
    await again.waitForPeers([b.nodeId, c.nodeId], WAIT_MS);
  });

  it('a banned address cannot connect until unbanned, and the ban survives a restart', async () => {
    const x = await net.start({ name: 'x', args: ['--no-stdin'] });
    const y = await net.start({ name: 'y', args: ['--no-stdin'] });
    await cli(y, ['peers', 'add', x.address]);
    await x.waitForPeers([y.nodeId], WAIT_MS);
    const out = await cli(x, ['peers', 'ban', y.address, '--reason', 'test ban', '--duration', '1h']);
    assert.match(out, new RegExp(`banned ${y.address.replace(/\./g, '\\.')} until .* \\(test ban\\)`));
    await x.waitUntil(() => (peersOf(x).has(y.nodeId) ? undefined : true), WAIT_MS, 'y dropped');

    await x.stop();
    const x2 = await net.start({ name: 'x2', dataDir: x.dataDir, listen: x.address, args: ['--no-stdin'] });
    const bans = JSON.parse(await cli(x2, ['peers', 'bans', '--json'])) as { bans: { target: string; reason: string }[] };
    assert.deepEqual(bans.bans.map((b) => [b.target, b.reason]), [[y.address, 'test ban']]);

    // y's dial completes the handshake, then x2 closes it as banned and never lists y.
    await cli(y, ['peers', 'add', x.address]).catch(() => undefined);
    await y.waitForLog((r) => r.msg === 'peer disconnected' && r.peer === x2.nodeId && r.cause === 'banned', WAIT_MS, 'y refused as banned');
    assert.ok(!peersOf(x2).has(y.nodeId));
    const listed = JSON.parse(await cli(x2, ['peers', 'list', '--json'])) as { peers?: { nodeId: string }[] };
    assert.ok(!(listed.peers ?? []).some((p) => p.nodeId === y.nodeId));

    await cli(x2, ['peers', 'unban', y.address]);
    await cli(y, ['peers', 'add', x.address]);
    await x2.waitForPeers([y.nodeId], WAIT_MS);
  });

  it('200 inbound connections at once: the node keeps to its slots and its peers, and answers meanwhile', async () => {
    const n = await net.start({ name: 'n', args: ['--no-stdin', '--max-inbound', '64'] });
    const p = await net.start({ name: 'p', args: ['--no-stdin', '--peer', n.address] });
    await n.waitForPeers([p.nodeId], WAIT_MS);
    const channel = new ApiChannel({ address: await rpcOf(n), token: await readCookie(n.dataDir), timeoutMs: 10_000 });
    const [host, port] = ['127.0.0.1', n.port];
    const opened: SecureConnection[] = [];
    // Each dial ends as: -1 (handshake failed), the reason it was closed with, or still open.
    const reasons: number[] = [];
    const storm = Array.from({ length: 200 }, () =>
      dialSecure(host, port, {
        identity: generateIdentity(),
        hello: {
          networkId: networkIdFor('devnet'),
          protocolVersion: PROTOCOL_VERSION,
          listenPort: 0,
          protocols: [{ name: 'direct', versions: [1] }],
          userAgent: 'storm',
        },
        handshakeTimeoutMs: 20_000,
        maxFrameBytes: 1 << 20,
      }).then(
        (conn) => {
          opened.push(conn);
          conn.once('close', (info: { reason: number }) => reasons.push(info.reason));
        },
        () => {
          reasons.push(-1);
        },
      ),
    );
    try {
      // The node answers while the storm is handled, and never goes past its inbound slots.
      let answers = 0;
      let maxInbound = 0;
      const alive = (): number => opened.filter((c) => !c.closed).length;
      const watch = (async () => {
        for (let i = 0; i < 400 && reasons.length + alive() < 200; i++) {
          const info = await channel.service(NodeService).getInfo({});
          answers++;
          maxInbound = Math.max(maxInbound, info.peersInbound);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      // Settled: every dial has failed, been refused, or holds a slot; nothing is closed by us yet.
      await pollUntil(() => reasons.length + alive() >= 200 || undefined, WAIT_MS, 'every storm connection settled');
      await watch;
      assert.ok(answers >= 1, 'node info answered during the storm');
      assert.ok(maxInbound <= 64, `at most 64 inbound peers (saw ${maxInbound})`);
      const info = await channel.service(NodeService).getInfo({});
      assert.ok(info.peersInbound <= 64);
      assert.ok(alive() <= 63, `at most 63 storm sessions beside the existing inbound peer (saw ${alive()})`);
      assert.ok(peersOf(n).has(p.nodeId), 'the existing peer is kept');
      // Everything past the slots was refused with TOO_MANY_PEERS (9); -1 is a handshake that failed.
      const refused = reasons.filter((r) => r === 9).length;
      const failed = reasons.filter((r) => r === -1).length;
      assert.equal(refused + failed + alive(), 200, `every other session was refused as too many peers (reasons: ${[...new Set(reasons)].join(',')})`);
    } finally {
      for (const c of opened) c.close(1, 'test over');
      channel.close();
    }
    await Promise.all(storm);
    assert.ok(peersOf(n).has(p.nodeId), 'the existing peer is still there');
  });
});
