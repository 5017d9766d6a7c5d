/**
 * Real daemons on the regtest network: messages sent at every node (some
 * signed in the CLI with --from keys) end up in blocks mined by one node, and
 * every node reports the same head and the same transactions in the same order.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { DaemonSet, pollUntil, withTimeout } from '../helpers/daemon.js';
import { apiOf, chainTransactions, cli, ok, payloadText, spawnCli, type NodeApiClients } from './chain-harness.js';

const TEST_TIMEOUT_MS = 150_000;
const WAIT_MS = 30_000;
const REGTEST = ['--network', 'regtest', '--no-stdin'];

async function sameHead(apis: NodeApiClients[]): Promise<string | undefined> {
  const heads = await Promise.all(apis.map(async (a) => (await a.chain.getHead({})).head!.hash));
  return heads.every((h) => h === heads[0]) ? heads[0] : undefined;
}

describe('chain across three daemons', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('messages from all three nodes, some signed with --from keys, are mined into one chain every node agrees on', { timeout: TEST_TIMEOUT_MS }, async () => {
    const a = await net.start({ name: 'A', args: [...REGTEST, '--mine'] });
    const b = await net.start({ name: 'B', peers: [a.address], args: REGTEST });
    const c = await net.start({ name: 'C', peers: [b.address], args: REGTEST });
    await Promise.all([a.waitForPeers([b.nodeId], WAIT_MS), c.waitForPeers([b.nodeId], WAIT_MS)]);
    const apis = await Promise.all([a, b, c].map(apiOf));
    after(() => apis.forEach((x) => x.channel.close()));

    // Keys: one protected by a passphrase, one stored without; the keystore never holds the secret in the clear.
    const keystore = await net.tempDir();
    const pw = join(keystore, 'pw');
    await writeFile(pw, 'correct horse\n');
    const env = { PHEROMONES_KEYSTORE: keystore };
    const alice = JSON.parse(ok(await cli(['keys', 'generate', '--name', 'alice', '--password-file', pw, '--json'], env), 'keys generate alice')) as { address: string };
    ok(await cli(['keys', 'generate', '--name', 'bob', '--insecure-no-password'], env), 'keys generate bob');
    const listed = ok(await cli(['keys', 'list'], env), 'keys list');
    assert.match(listed, /alice/);
    assert.match(listed, /bob/);
    assert.match(ok(await cli(['keys', 'show', 'alice'], env), 'keys show'), new RegExp(alice.address));
    const exported = JSON.parse(ok(await cli(['keys', 'export', 'alice', '-y', '--password-file', pw, '--json'], env), 'keys export')) as { secretKey: string };
    const file = await readFile(join(keystore, 'alice.json'), 'utf8');
    const secret = Buffer.from(exported.secretKey, 'hex');
    for (const form of [exported.secretKey, exported.secretKey.toUpperCase(), secret.toString('base64'), secret.toString('base64url')]) {
      assert.ok(!file.includes(form), 'the keystore file does not hold the secret in the clear');
    }
    const wrong = join(keystore, 'wrong');
    await writeFile(wrong, 'not it\n');
    const refused = await cli(['msg', 'send', 'never sent', '--from', 'alice', '--password-file', wrong, '--rpc', apis[0]!.rpc, '--data-dir', a.dataDir], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^pheromones: --from alice: wrong passphrase for key alice\n$/);

    const texts: string[] = [];
    for (const [i, api] of apis.entries()) {
      const text = `plain from ${'ABC'[i]}`;
      texts.push(text);
      await api.messages.broadcast({ topic: 'chat', payload: new TextEncoder().encode(text) });
    }
    const signed = [
      { key: 'alice', node: c, api: apis[2]!, text: 'alice signs at C', pwFile: pw },
      { key: 'bob', node: b, api: apis[1]!, text: 'bob signs at B', pwFile: undefined },
    ];
    for (const s of signed) {
      const args = ['msg', 'send', s.text, '--from', s.key, '--rpc', s.api.rpc, '--data-dir', s.node.dataDir, '--json'];
      if (s.pwFile !== undefined) args.push('--password-file', s.pwFile);
      const res = JSON.parse(ok(await cli(args, env), `msg send --from ${s.key}`)) as { id: string };
      assert.match(res.id, /^[0-9a-f]{64}$/);
      texts.push(s.text);
    }

    // Every message is in the chain of every node, and the nodes agree on head and order. The miner goes on
    // mining, so the lists are read up to the head all three reported, not to whatever head each has later.
    const lists = await pollUntil(
      async () => {
        const heads = await Promise.all(apis.map(async (x) => (await x.chain.getHead({})).head!));
        if (!heads.every((h) => h.hash === heads[0]!.hash)) return false;
        const txs = await Promise.all(apis.map(async (x) => (await chainTransactions(x, heads[0]!.height)).map((t) => t.id)));
        const minedA = await chainTransactions(apis[0]!, heads[0]!.height);
        return texts.every((t) => minedA.some((x) => payloadText(x) === t)) ? txs : false;
      },
      WAIT_MS,
      'all messages mined and every head equal',
      200,
    );
    assert.deepEqual(lists[1], lists[0], 'B has the same transactions in the same order as A');
    assert.deepEqual(lists[2], lists[0], 'C has the same transactions in the same order as A');
    const all = await chainTransactions(apis[0]!);
    const aliceTx = all.find((t) => payloadText(t) === 'alice signs at C')!;
    assert.equal(aliceTx.authorAddress, alice.address, 'the --from message is authored by the key');
    const plainA = all.find((t) => payloadText(t) === 'plain from A')!;
    assert.notEqual(plainA.author, '', 'a plain message is authored by the node');

    // The signed message was also gossiped: the message log of a node that did not receive it directly shows it.
    const logA = await apis[0]!.messages.listMessages({ afterSeq: 0n, limit: 100, topic: '' });
    assert.ok(logA.messages.some((m) => Buffer.from(m.payload).toString() === 'alice signs at C'), 'A logged the message signed at C');

    // The CLI reads the same: head, get, tx get, status, pool.
    const flags = ['--rpc', apis[1]!.rpc, '--data-dir', b.dataDir];
    const head = JSON.parse(ok(await cli(['chain', 'head', '--json', ...flags]), 'chain head')) as { head: { hash: string; height: string } };
    assert.equal(head.head.hash, await sameHead(apis));
    const tx = JSON.parse(ok(await cli(['tx', 'get', aliceTx.id, '--json', ...flags]), 'tx get')) as { block: { hash: string }; inPool: boolean };
    assert.equal(tx.inPool, false);
    const byHash = JSON.parse(ok(await cli(['chain', 'get', tx.block.hash, '--json', ...flags]), 'chain get')) as { block: { transactions: { id: string }[] } };
    assert.ok(byHash.block.transactions.some((t) => t.id === aliceTx.id));
    const status = JSON.parse(ok(await cli(['chain', 'status', '--json', ...flags]), 'chain status')) as { height: string; chainPeers: number };
    assert.equal(status.height, head.head.height);
    assert.equal(status.chainPeers, 2);
    const pool = JSON.parse(ok(await cli(['tx', 'pool', '--json', ...flags]), 'tx pool')) as { total: number };
    assert.equal(pool.total, 0);
    const range = ok(await cli(['chain', 'list', '--from', '1', '--to', '2', '--txs', ...flags]), 'chain list');
    assert.match(range, /^#1 [0-9a-f]{64} /m);
    assert.match(range, /^#2 [0-9a-f]{64} /m);
    assert.doesNotMatch(range, /^#0 /m);

    // chain watch prints the next block as it joins the chain.
    const watcher = spawnCli(['chain', 'watch', '--txs', ...flags]);
    after(() => watcher.kill('SIGKILL'));
    const lines = createInterface({ input: watcher.stdout! });
    const seen = new Promise<string>((resolve) => lines.on('line', (l) => { if (l.includes('watched message')) resolve(l); }));
    // The stream is open once the node has it registered; send until a block with the message shows.
    await withTimeout(
      (async () => {
        for (let i = 0; i < 20; i++) {
          await apis[0]!.messages.broadcast({ topic: 'chat', payload: new TextEncoder().encode(`watched message ${i}`) });
          const got = await Promise.race([seen, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
          if (got !== undefined) return got;
        }
        throw new Error('chain watch printed no block');
      })(),
      WAIT_MS,
      'chain watch output',
    );
    watcher.kill('SIGINT');
    const [code] = (await once(watcher, 'exit')) as [number | null];
    assert.equal(code, 0, 'chain watch exits cleanly on Ctrl-C');
  });
});
