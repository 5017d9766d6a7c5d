/**
 * Protocols share a session: while a fresh daemon downloads 2,000 blocks of
 * about 4 KiB from its peer (replies of ~2 MB), gossip between the two keeps
 * flowing both ways instead of waiting for the download to end. How fast it
 * flows is measured by `npm run bench -- fairness`, not asserted here.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet, pollUntil, type Daemon, type LogRecord } from '../helpers/daemon.js';
import { apiOf, buildRegtestChain, type NodeApiClients } from './chain-harness.js';

const TEST_TIMEOUT_MS = 170_000;
const BLOCKS = 2_000;
const PAYLOAD_BYTES = 4_000;
const TOPIC = 'during-sync';
const REGTEST = ['--network', 'regtest', '--no-stdin'];

const isProgress = (r: LogRecord): boolean => typeof r.msg === 'string' && r.msg.startsWith('chain sync: height');

/** Every message on TOPIC in a node's log. */
async function delivered(api: NodeApiClients): Promise<{ origin: string; receivedAtMs: number }[]> {
  const out: { origin: string; receivedAtMs: number }[] = [];
  let after = 0n;
  for (;;) {
    const page = await api.messages.listMessages({ afterSeq: after, limit: 1000, topic: TOPIC });
    for (const m of page.messages) out.push({ origin: m.origin, receivedAtMs: Number(m.receivedAtMs) });
    if (page.messages.length === 0) return out;
    after = page.nextAfterSeq;
  }
}

function syncDone(d: Daemon): LogRecord | undefined {
  return d.logs.find((r) => isProgress(r) && r.height === BLOCKS);
}

describe('fair protocols on one session', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it(`gossip is delivered both ways while ${BLOCKS} blocks sync over the same session`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const dir = await net.tempDir();
    await buildRegtestChain(dir, BLOCKS, 1, PAYLOAD_BYTES);
    const a = await net.start({ name: 'A', dataDir: dir, args: REGTEST });
    const apiA = await apiOf(a);
    after(() => apiA.channel.close());
    const b = await net.start({ name: 'B', peers: [a.address], args: REGTEST });
    const apiB = await apiOf(b);
    after(() => apiB.channel.close());
    await b.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('chain sync from'), 30_000, 'B starts syncing');

    // Both publish at a steady pace until B has the whole chain.
    let sent = 0;
    const deadline = Date.now() + 120_000;
    while (syncDone(b) === undefined) {
      assert.ok(Date.now() < deadline, `B did not finish the sync in time:\n${b.tail()}`);
      const payload = new TextEncoder().encode(`message ${sent}`);
      await Promise.all([apiA.messages.broadcast({ topic: TOPIC, payload }), apiB.messages.broadcast({ topic: TOPIC, payload })]);
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
    const doneAt = syncDone(b)!.time as number;
    t.diagnostic(`${sent} messages published by each node during the sync`);

    // Everything arrives; what matters is what arrived before the sync was over.
    const [onA, onB] = await pollUntil(
      async () => {
        const got = await Promise.all([delivered(apiA), delivered(apiB)]);
        return got.every((g) => g.length === 2 * sent) ? got : undefined;
      },
      30_000,
      `all ${2 * sent} messages on both nodes`,
      250,
    );
    const fromBToA = onA.filter((m) => m.origin === b.nodeId && m.receivedAtMs < doneAt).length;
    const fromAToB = onB.filter((m) => m.origin === a.nodeId && m.receivedAtMs < doneAt).length;
    t.diagnostic(`delivered before the sync ended: A to B ${fromAToB}, B to A ${fromBToA}`);
    assert.ok(fromAToB > 0, 'messages from the node serving the blocks reached the syncing node during the sync');
    assert.ok(fromBToA > 0, 'messages from the syncing node reached the serving node during the sync');
    // The traffic shows up per protocol in B's peer list.
    const peer = (await apiB.peers.listPeers({})).peers.find((p) => p.nodeId === a.nodeId)!;
    const traffic = new Map(peer.traffic.map((x) => [x.protocol, x]));
    assert.ok(traffic.get('chain')!.bytesIn > BigInt(BLOCKS * PAYLOAD_BYTES), 'the blocks came in on the chain protocol');
    assert.ok(traffic.get('gossip')!.framesIn > 0n && traffic.get('gossip')!.framesOut > 0n, 'gossip both ways');
  });
});
