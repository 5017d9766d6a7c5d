import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Node } from '../../src/node/node.js';
import type { PeerInfo } from '../../src/node/types.js';
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

describe('simultaneous dials', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('two daemons dialling each other at start keep exactly one connection, the same at both ends', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const addrA = `127.0.0.1:${portA}`;
    const addrB = `127.0.0.1:${portB}`;
    // Spawned together, each with the other as persistent peer.
    const [a, b] = await Promise.all([
      net.start({ name: 'A', listen: addrA, peers: [addrB], args: FAST_REDIAL }),
      net.start({ name: 'B', listen: addrB, peers: [addrA], args: FAST_REDIAL }),
    ]);
    await Promise.all([a.waitForPeers([b.nodeId], WAIT_MS), b.waitForPeers([a.nodeId], WAIT_MS)]);
    // Both ends may log the first connection before the second dial lands and
    // the duplicate is resolved; a broadcast sent on the losing connection in
    // that moment is lost (gossip does not retransmit). So probe until one
    // gets through each way: after that the surviving connection carries traffic.
    await probe(a, b, 'a to b');
    await probe(b, a, 'b to a');

    const atA = a.connectedPeers().get(b.nodeId);
    const atB = b.connectedPeers().get(a.nodeId);
    assert.ok(atA && atB, 'each still connected to the other');
    assert.notEqual(atA.direction, atB.direction, 'one end dialled, the other accepted: the same connection');
    const [dialler, accepted] = atA.direction === 'outbound' ? [atA, atB] : [atB, atA];
    assert.equal(dialler.address, atA === dialler ? addrB : addrA, 'the dialler\'s end points at the other\'s listener');
    assert.match(accepted.address as string, /^127\.0\.0\.1:\d+$/);
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
