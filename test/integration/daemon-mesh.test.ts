import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet, type Daemon } from '../helpers/daemon.js';

/**
 * Six daemons in a ring with three chords: every message is printed exactly
 * once everywhere, and the gossip frames sent stay within what flooding over
 * these edges allows (at most once per link direction per message).
 */

/** A hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 20_000;
const N = 6;
/** Ring 0-1-2-3-4-5-0 plus the chords 0-3, 1-4, 2-5. */
const EDGES: [number, number][] = [
  [0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 5],
  [0, 3], [1, 4], [2, 5],
];
const LINES_PER_NODE = 3;
/** Keep-alive frames also count as frames sent: at most this many per session end in this short test. */
const CONTROL_SLACK_PER_SESSION_END = 6;
/** Rooted-tree adverts one session end may send in this test: at the open, and one per change of root or parent as the nodes join. */
const TREE_ADVERTS_PER_SESSION_END = 8;

describe('pheromones-node mesh', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('six nodes in a ring with chords: each message printed once at every node, frames bounded by the edges', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // Each node dials its neighbours with a smaller index, so nodes can start one by one.
    const nodes: Daemon[] = [];
    for (let i = 0; i < N; i++) {
      const peers = EDGES.filter(([x, y]) => Math.max(x, y) === i).map(([x, y]) => nodes[Math.min(x, y)]!.address);
      nodes.push(await net.start({ name: `n${i}`, peers, args: ['--ping-interval', '60000', '--ping-timeout', '120000'] }));
    }
    await Promise.all(
      nodes.map((d, i) => {
        const neighbours = EDGES.filter((e) => e.includes(i)).map(([x, y]) => nodes[x === i ? y : x]!.nodeId);
        return d.waitForPeers(neighbours, WAIT_MS);
      }),
    );
    for (const [i, d] of nodes.entries()) {
      assert.equal(d.connectedPeers().size, EDGES.filter((e) => e.includes(i)).length, `${d.name} has only its neighbours`);
    }

    const texts: string[] = [];
    for (let k = 0; k < LINES_PER_NODE; k++) {
      for (const [i, d] of nodes.entries()) {
        const text = `from n${i} #${k}`;
        texts.push(text);
        d.writeLine(text);
      }
    }
    await Promise.all(
      nodes.map((d) =>
        d.waitUntil(
          () => (texts.every((t) => d.chat().some((c) => c.text === t)) ? true : undefined),
          WAIT_MS,
          `all ${texts.length} messages at ${d.name}`,
        ),
      ),
    );

    // Stop everything (sessions end, their totals are logged), then count.
    for (const d of nodes) await d.stopCleanly();
    for (const d of nodes) {
      for (const t of texts) assert.equal(d.chat().filter((c) => c.text === t).length, 1, `"${t}" printed once at ${d.name}`);
      assert.equal(d.chat().length, texts.length, `${d.name} printed nothing else`);
    }

    const sessions = nodes.flatMap((d) => d.logs.filter((r) => r.msg === 'peer session totals'));
    assert.ok(sessions.length >= 2 * EDGES.length, 'every session end logged its totals');
    // The rooted tree's adverts (gossip/5) are bounded on their own: one at the open, one per change
    // of root, parent or stamp while the six nodes join one after another.
    const advertsSent = sessions.reduce((sum, r) => sum + (r.treeAdvertsOut as number), 0);
    assert.ok(advertsSent <= sessions.length * TREE_ADVERTS_PER_SESSION_END, `tree adverts ${advertsSent} <= ${sessions.length * TREE_ADVERTS_PER_SESSION_END}`);
    const framesSent = sessions.reduce((sum, r) => sum + (r.messagesOut as number), 0) - advertsSent;
    // Flooding with duplicate suppression sends each message over each link at most once per direction.
    const bound = texts.length * 2 * EDGES.length + sessions.length * CONTROL_SLACK_PER_SESSION_END;
    t.diagnostic(`frames sent ${framesSent} besides ${advertsSent} tree adverts for ${texts.length} messages over ${EDGES.length} links (bound ${bound})`);
    // And at least once to every node but the origin.
    assert.ok(framesSent >= texts.length * (N - 1), `frames sent ${framesSent} cover every node`);
    assert.ok(framesSent <= bound, `frames sent ${framesSent} <= ${bound} (no storm)`);
  });
});
