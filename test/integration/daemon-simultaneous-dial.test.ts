import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { PeerDirection } from '../../src/gen/pheromones/admin/v1/peer_pb.js';
import { Node } from '../../src/node/node.js';
import type { PeerInfo } from '../../src/node/types.js';
import { apiOf } from '../helpers/api.js';
import { DaemonSet, freePort, makeTempDir, pollUntil, withTimeout, type Daemon } from '../helpers/daemon.js';

/**
 * Two nodes dialling each other at the same moment keep exactly one
 * connection, the same at both ends: once with real daemons, then
 * repeatedly with in-process nodes (restarting processes 20 times is slow).
 */

/** A hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 15_000;
const REPETITIONS = 20;
const FAST_REDIAL = ['--reconnect-base', '100', '--reconnect-max', '1000'];

const PROBES = 5;
const PROBE_WAIT_MS = 3_000;

/** Broadcast numbered lines from `from` until one is printed by `to`. */
async function probe(from: Daemon, to: Daemon, text: string): Promise<void> {
  for (let k = 1; ; k++) {
    from.writeLine(`${text} #${k}`);
    try {
      await to.waitForChat((c) => c.text === `${text} #${k}`, PROBE_WAIT_MS, `"${text} #${k}" at ${to.name}`);
      return;
    } catch (err) {
      if (k >= PROBES || !to.running) throw err;
    }
  }
}

const PORT_ATTEMPTS = 3;

/**
 * Spawn A and B together, each with the other as persistent peer. Both
 * ports must be known before either starts, so they come from freePort();
 * another test may take one in between, and then the pair starts again.
 */
async function startPair(net: DaemonSet): Promise<{ a: Daemon; b: Daemon; addrA: string; addrB: string }> {
  for (let attempt = 1; ; attempt++) {
    const addrA = `127.0.0.1:${await freePort()}`;
    const addrB = `127.0.0.1:${await freePort()}`;
    const started = await Promise.allSettled([
      net.start({ name: 'A', listen: addrA, peers: [addrB], args: FAST_REDIAL }),
      net.start({ name: 'B', listen: addrB, peers: [addrA], args: FAST_REDIAL }),
    ]);
    const [ra, rb] = started;
    if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return { a: ra.value, b: rb.value, addrA, addrB };
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.kill() : undefined)));
    const failure = [ra, rb].find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason as Error;
    if (attempt >= PORT_ATTEMPTS || !/EADDRINUSE/.test(failure.message)) throw failure;
  }
}

describe('simultaneous dials', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('two daemons dialling each other at start keep exactly one connection, the same at both ends', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { a, b, addrA, addrB } = await startPair(net);
    await Promise.all([a.waitForPeers([b.nodeId], WAIT_MS), b.waitForPeers([a.nodeId], WAIT_MS)]);
    // Both ends may log the first connection before the second dial lands and
    // the duplicate is resolved; a broadcast sent on the losing connection in
    // that moment is lost (gossip does not retransmit). So probe until one
    // gets through each way: after that the surviving connection carries traffic.
    await probe(a, b, 'a to b');
    await probe(b, a, 'b to a');

    // Ask the nodes themselves: the logs (stderr) can lag behind the chat
    // (stdout) that the probes read. Until the losing connection's close is
    // processed at both ends each may still list its own dial, so wait for
    // the two views to agree, then check what they agree on.
    const [apiA, apiB] = await Promise.all([apiOf(a), apiOf(b)]);
    try {
      const [atA, atB] = await pollUntil(
        async () => {
          const [pa, pb] = await Promise.all([apiA.peers.listPeers({}), apiB.peers.listPeers({})]);
          const [x, y] = [pa.peers, pb.peers];
          return x.length === 1 && y.length === 1 && x[0]!.direction !== y[0]!.direction ? ([x[0]!, y[0]!] as const) : undefined;
        },
        WAIT_MS,
        'A and B to list one connection to each other, dialled by one and accepted by the other',
      );
      assert.equal(atA.nodeId, b.nodeId);
      assert.equal(atB.nodeId, a.nodeId);
      const [dialler, accepted] = atA.direction === PeerDirection.OUTBOUND ? [atA, atB] : [atB, atA];
      assert.equal(dialler.address, dialler === atA ? addrB : addrA, "the dialler's end points at the other's listener");
      assert.match(accepted.address, /^127\.0\.0\.1:\d+$/);
    } finally {
      apiA.channel.close();
      apiB.channel.close();
    }
    for (const [d, prefix] of [[a, 'b to a'], [b, 'a to b']] as const) {
      const texts = d.chat().filter((c) => c.text.startsWith(prefix)).map((c) => c.text);
      assert.equal(new Set(texts).size, texts.length, `no probe printed twice at ${d.name}`);
    }
    await Promise.all([a.stopCleanly(), b.stopCleanly()]);
  });

  it(`in-process nodes dialling each other at the same moment, ${REPETITIONS} times: one connection survives, the same at both ends`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const dirs = [await makeTempDir(), await makeTempDir()];
    const make = (dataDir: string): Node =>
      new Node({
        dataDir,
        network: 'devnet',
        listenHost: '127.0.0.1',
        listenPort: 0,
        peers: [],
        maxInbound: 8,
        maxOutbound: 8,
        grpcAddress: '127.0.0.1:0',
        logger: pino({ level: 'silent' }),
        tuning: { handshakeTimeoutMs: 5_000 },
      });
    const a = make(dirs[0]!);
    const b = make(dirs[1]!);
    try {
      await withTimeout(Promise.all([a.start(), b.start()]), WAIT_MS, 'both nodes to start');
      const addrA = (await a.info()).listenAddress;
      const addrB = (await b.info()).listenAddress;
      const only = (node: Node, other: Node): PeerInfo | undefined => {
        const peers = node.listPeers();
        return peers.length === 1 && peers[0]!.nodeId === other.nodeId ? peers[0] : undefined;
      };

      for (let rep = 0; rep < REPETITIONS; rep++) {
        const results = await withTimeout(
          Promise.allSettled([
            a.addPeer(addrB, { persistent: false, timeoutMs: 5_000 }),
            b.addPeer(addrA, { persistent: false, timeoutMs: 5_000 }),
          ]),
          WAIT_MS,
          `rep ${rep}: both dials to settle`,
        );
        assert.ok(results.some((r) => r.status === 'fulfilled'), `rep ${rep}: at least one dial succeeded`);
        const [pa, pb] = await pollUntil(
          () => {
            const x = only(a, b);
            const y = only(b, a);
            return x && y && x.direction !== y.direction ? ([x, y] as const) : undefined;
          },
          WAIT_MS,
          `rep ${rep}: one connection at both ends`,
        );
        // The survivor carries messages both ways, and is still the only one afterwards.
        const text = `rep ${rep}`;
        const gotAtB = new Promise<void>((ok) => {
          const off = b.onMessage((m) => {
            if (new TextDecoder().decode(m.payload) === text) {
              off();
              ok();
            }
          });
        });
        await withTimeout(a.broadcast('chat', new TextEncoder().encode(text)), WAIT_MS, `rep ${rep}: broadcast`);
        await withTimeout(gotAtB, WAIT_MS, `rep ${rep}: message at B`);
        assert.deepEqual(
          [only(a, b)?.direction, only(b, a)?.direction, only(a, b)?.connectedSinceMs, only(b, a)?.connectedSinceMs],
          [pa.direction, pb.direction, pa.connectedSinceMs, pb.connectedSinceMs],
          `rep ${rep}: the same connection survived`,
        );

        await withTimeout(a.removePeer(b.nodeId), WAIT_MS, `rep ${rep}: removePeer`);
        await pollUntil(() => a.listPeers().length === 0 && b.listPeers().length === 0, WAIT_MS, `rep ${rep}: disconnected`);
      }
    } finally {
      // Bounded, and the timer keeps the event loop alive meanwhile: a socket
      // being closed may only be finished off by an unref'd grace timer.
      await withTimeout(Promise.all([a.stop(), b.stop()]), WAIT_MS, 'both nodes to stop');
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  });
});
