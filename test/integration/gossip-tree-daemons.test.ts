import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet, type Daemon } from '../helpers/daemon.js';

/**
 * The broadcast tree through real daemons (gossip mode 'tree', the default):
 * exactly-once delivery on a graph with cycles, repair when relaying nodes
 * are killed mid-stream, and a node joining mid-stream.
 *
 * Graph: the ring 0-1-2-3-4-5-6-7-0 with the chords 0-4 and 2-6. Node 0
 * publishes. Node 2 is two hops from 0 only through 1, node 6 only through 7,
 * so 1 and 7 relay for them; without 1 and 7 the graph stays connected
 * (0-4, 4-3, 4-5, 3-2, 5-6, 2-6).
 */

const TEST_TIMEOUT_MS = 150_000;
const WAIT_MS = 30_000;
const N = 8;
const EDGES: [number, number][] = [
  [0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [0, 7],
  [0, 4], [2, 6],
];
const STREAM = 60;
const KILL_FIRST_AT = 15;
const KILL_SECOND_AT = 30;
const JOIN_AT = 40;
/** Publishing pace: a stream, not a burst. */
const PACE_MS = 25;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function printedOnce(d: Daemon, texts: string[]): void {
  const counts = new Map<string, number>();
  for (const c of d.chat()) counts.set(c.text, (counts.get(c.text) ?? 0) + 1);
  for (const t of texts) assert.equal(counts.get(t) ?? 0, 1, `"${t}" printed exactly once at ${d.name}`);
}

function waitAll(d: Daemon, texts: string[]): Promise<true> {
  return d.waitUntil(() => (texts.every((t) => d.chat().some((c) => c.text === t)) ? true : undefined), WAIT_MS, `${texts.length} messages at ${d.name}`);
}

/** Slow keep-alive: these tests are about gossip frames. */
const ARGS = ['--ping-interval', '60000', '--ping-timeout', '120000'];

async function startGraph(net: DaemonSet): Promise<Daemon[]> {
  const nodes: Daemon[] = [];
  for (let i = 0; i < N; i++) {
    const peers = EDGES.filter(([x, y]) => Math.max(x, y) === i).map(([x, y]) => nodes[Math.min(x, y)]!.address);
    // Persistent peers only: discovery must not add links the graph does not have.
    nodes.push(await net.start({ name: `n${i}`, peers, args: [...ARGS, '--max-outbound', '0'] }));
  }
  await Promise.all(
    nodes.map((d, i) => d.waitForPeers(EDGES.filter((e) => e.includes(i)).map(([x, y]) => nodes[x === i ? y : x]!.nodeId), WAIT_MS)),
  );
  for (const [i, d] of nodes.entries()) {
    assert.equal(d.connectedPeers().size, EDGES.filter((e) => e.includes(i)).length, `${d.name} has only its neighbours`);
  }
  return nodes;
}

describe('gossip tree through real daemons', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('a graph with cycles: every message from several origins printed exactly once at every node', { timeout: TEST_TIMEOUT_MS }, async () => {
    const nodes = await startGraph(net);
    const texts: string[] = [];
    for (let k = 0; k < 3; k++) {
      for (const [i, d] of nodes.entries()) {
        const text = `cycle n${i} #${k}`;
        texts.push(text);
        d.writeLine(text);
      }
    }
    await Promise.all(nodes.map((d) => waitAll(d, texts)));
    for (const d of nodes) printedOnce(d, texts);
    await Promise.all(nodes.map((d) => d.stopCleanly()));
  });

  it('relaying nodes killed mid-stream lose nothing at the survivors; a node joining mid-stream gets everything after it joined', { timeout: TEST_TIMEOUT_MS }, async () => {
    const nodes = await startGraph(net);
    const publisher = nodes[0]!;
    // Only node 0 publishes, so the tree settles on its shortest paths: 1 and 7 relay for 2 and 6.
    const warmup = ['warm-up #0', 'warm-up #1'];
    for (const t of warmup) {
      publisher.writeLine(t);
      await Promise.all(nodes.map((d) => waitAll(d, [t])));
    }
    const texts: string[] = [];
    let joiner: Daemon | undefined;
    let joinedAt = -1;
    for (let k = 0; k < STREAM; k++) {
      if (k === KILL_FIRST_AT) await nodes[1]!.kill();
      if (k === KILL_SECOND_AT) await nodes[7]!.kill();
      if (k === JOIN_AT) {
        joiner = await net.start({ name: 'joiner', peers: [nodes[3]!.address], args: [...ARGS, '--max-outbound', '0'] });
        // Joined: both ends have the session (node 3 pushes only once it has registered it).
        await joiner.waitForPeers([nodes[3]!.nodeId], WAIT_MS);
        await nodes[3]!.waitForPeers([joiner.nodeId], WAIT_MS);
        joinedAt = k;
      }
      const text = `stream #${k}`;
      texts.push(text);
      publisher.writeLine(text);
      await sleep(PACE_MS);
    }
    const survivors = nodes.filter((_, i) => i !== 1 && i !== 7);
    await Promise.all(survivors.map((d) => waitAll(d, texts)));
    for (const d of survivors) printedOnce(d, texts);
    // The graph stayed as drawn (no link added to route around the dead relays).
    for (const d of survivors) assert.ok(d.connectedPeers().size <= EDGES.filter((e) => e.includes(nodes.indexOf(d))).length + 1, `${d.name} has no extra link`);
    assert.ok(joiner !== undefined);
    const afterJoin = texts.slice(joinedAt);
    await waitAll(joiner, afterJoin);
    printedOnce(joiner, afterJoin);
  });
});
