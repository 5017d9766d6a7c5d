/**
 * Two groups of daemons that cannot reach each other both mine; once joined,
 * every node converges on the heavier chain, and every message sent in
 * either group is in that chain: the losing branch's transactions go back
 * to the pool and are relayed again, so the winning side's miner takes them
 * even after the losing side's miner is gone.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet, pollUntil } from '../helpers/daemon.js';
import { apiOf, buildRegtestChain, chainTransactions, payloadText, type NodeApiClients } from './chain-harness.js';

const TEST_TIMEOUT_MS = 150_000;
const WAIT_MS = 30_000;
const REGTEST = ['--network', 'regtest', '--no-stdin'];

async function send(api: NodeApiClients, text: string): Promise<void> {
  await api.messages.broadcast({ topic: 'chat', payload: new TextEncoder().encode(text) });
}

/** Wait until `text` is in the canonical chain of `api`. */
async function mined(api: NodeApiClients, text: string): Promise<void> {
  await pollUntil(async () => (await chainTransactions(api)).some((t) => payloadText(t) === text), WAIT_MS, `"${text}" mined`, 100);
}

describe('chain partition', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('two mining groups rejoin on the heavier chain and lose no message', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const a = await net.start({ name: 'A', args: [...REGTEST, '--mine'] });
    const b = await net.start({ name: 'B', peers: [a.address], args: REGTEST });
    const c = await net.start({ name: 'C', args: [...REGTEST, '--mine'] });
    const d = await net.start({ name: 'D', peers: [c.address], args: REGTEST });
    await Promise.all([a.waitForPeers([b.nodeId], WAIT_MS), c.waitForPeers([d.nodeId], WAIT_MS)]);
    const [apiA, apiB, apiC, apiD] = await Promise.all([a, b, c, d].map(apiOf));
    const apis = [apiA!, apiB!, apiC!, apiD!];
    after(() => apis.forEach((x) => x.channel.close()));
    // B's block stream, open from the start, must report the branch switch when the groups meet.
    const watch = new AbortController();
    after(() => watch.abort());
    const events: string[] = [];
    const reorgSeen = (async () => {
      for await (const ev of apiB!.chain.subscribeBlocks({ includeTransactions: false }, { signal: watch.signal })) {
        if (ev.event.case === 'reorg') {
          events.push(`reorg at ${ev.event.value.forkHeight}: -${ev.event.value.removed.length} +${ev.event.value.added.length}`);
          return ev.event.value;
        }
      }
      return undefined;
    })().catch(() => undefined);

    // Group 1 mines two blocks, group 2 four: one message per block, each mined before the next is sent.
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const text = `group 1 message ${i}`;
      texts.push(text);
      await send(i % 2 === 0 ? apiA! : apiB!, text);
      await mined(apiB!, text);
    }
    for (let i = 0; i < 4; i++) {
      const text = `group 2 message ${i}`;
      texts.push(text);
      await send(i % 2 === 0 ? apiD! : apiC!, text);
      await mined(apiD!, text);
    }
    const headA = (await apiA!.chain.getHead({})).head!;
    const headC = (await apiC!.chain.getHead({})).head!;
    assert.ok(headC.height > headA.height, `group 2 is heavier (${headC.height} > ${headA.height})`);

    // Group 1's miner goes away before the groups meet: only C mines from here on, so group 1's
    // messages reach the final chain only if B, on reorganising, hands them back to the network.
    await a.stopCleanly();
    await apiB!.peers.addPeer({ address: c.address, persistent: true, timeoutMs: 10_000 });
    const converged = async (group: NodeApiClients[]): Promise<boolean> => {
      const heads = await Promise.all(group.map(async (x) => (await x.chain.getHead({})).head!.hash));
      if (!heads.every((h) => h === heads[0])) return false;
      const txs = await chainTransactions(group[0]!);
      return texts.every((text) => txs.some((x) => payloadText(x) === text));
    };
    await pollUntil(() => converged([apiB!, apiC!, apiD!]), WAIT_MS * 2, 'B, C and D on one head holding every message', 200);
    const reorg = await reorgSeen;
    assert.ok(reorg !== undefined, 'B streamed a reorg event');
    assert.equal(reorg.forkHeight, 0n, 'the groups share only genesis');
    assert.equal(reorg.removed.length, Number(headA.height), "group 1's blocks left B's chain");
    t.diagnostic(events.join('; '));

    // A comes back with its old branch and catches up.
    const a2 = await net.restart(a, { peers: [b.address] });
    const apiA2 = await apiOf(a2);
    after(() => apiA2.channel.close());
    apis[0] = apiA2;
    await pollUntil(() => converged(apis), WAIT_MS * 2, 'every node on one head holding every message', 200);
    const final = (await apiA2.chain.getHead({})).head!;
    t.diagnostic(`converged at height ${final.height} (group 1 was at ${headA.height}, group 2 at ${headC.height})`);
    assert.ok(final.height >= headC.height, 'the heavier chain won');
    // Group 2's blocks stayed: its head is an ancestor of (or is) the final head.
    const atC = await apiA2.chain.getBlock({ selector: { case: 'height', value: headC.height } });
    assert.equal(atC.block!.hash, headC.hash, "group 2's chain is the base of the final chain");
    // Group 1's old head left the canonical chain: A reorganised.
    const oldA = await apiA2.chain.getBlock({ selector: { case: 'hash', value: headA.hash } });
    assert.equal(oldA.block!.canonical, false, "group 1's blocks were abandoned");
    const lists = await Promise.all(apis.map(async (x) => (await chainTransactions(x)).map((tx) => tx.id)));
    for (const [i, l] of lists.entries()) assert.deepEqual(l, lists[0], `node ${'ABCD'[i]} has the same transactions in the same order`);
    assert.equal(new Set(lists[0]).size, lists[0]!.length, 'no transaction twice');
  });

  it('two nodes holding chains of equal work agree on the lower-hash head when they meet, and keep every message', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Each side "mined" three blocks alone, as two halves of a partition may: same work, different blocks.
    const [dirA, dirB] = [await net.tempDir(), await net.tempDir()];
    const builtA = await buildRegtestChain(dirA, 3, 1);
    const builtB = await buildRegtestChain(dirB, 3, 1);
    assert.notEqual(builtA.headHash, builtB.headHash, 'two different chains');
    const a = await net.start({ name: 'A', dataDir: dirA, args: REGTEST });
    const b = await net.start({ name: 'B', dataDir: dirB, args: REGTEST });
    const [apiA, apiB] = await Promise.all([apiOf(a), apiOf(b)]);
    after(() => [apiA, apiB].forEach((x) => x.channel.close()));
    const [winner, loser] = builtA.headHash < builtB.headHash ? [apiA, apiB] : [apiB, apiA];
    const lost = (await chainTransactions(loser)).map((tx) => tx.id);
    const head = builtA.headHash < builtB.headHash ? builtA.headHash : builtB.headHash;
    await apiB.peers.addPeer({ address: a.address, persistent: true, timeoutMs: 10_000 });
    // Nobody mines: only the tie rule can bring them to one head.
    await pollUntil(
      async () => (await Promise.all([apiA, apiB].map(async (x) => (await x.chain.getHead({})).head!.hash))).every((h) => h === head),
      WAIT_MS,
      'both nodes on the lower of the two heads',
      100,
    );
    // The abandoned branch's messages went back to the loser's pool and on to the winner's.
    for (const x of [loser, winner]) {
      await pollUntil(
        async () => {
          const pooled = new Set((await x.chain.listPoolTransactions({ limit: 100 })).transactions.map((tx) => tx.id));
          return lost.every((id) => pooled.has(id));
        },
        WAIT_MS,
        `the abandoned branch's transactions in ${x === winner ? "the winner's" : "the loser's"} pool`,
        100,
      );
    }
  });
});
