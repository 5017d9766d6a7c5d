/**
 * A 12-host testnet across real network stacks: one Linux network namespace
 * per `pheromones-node` (its own loopback, address, data dir and gRPC port),
 * driven with the `pheromones` CLI run inside each namespace.
 *
 *   1. bootstrap: every node from one seed; one message reaches all 12, once;
 *   2. partition: the link between two halves of 6 goes down for 60 s, a
 *      miner on each side, messages sent on both; after the heal every node
 *      reports the same head within 60 s, and no message is lost (each is in
 *      that chain, or in every node's pool);
 *   3. crash: three nodes are killed (SIGKILL) while messages flow and are
 *      restarted without --seed: they rejoin from their peer stores and catch
 *      up with the chain.
 *
 * Runs only as root with `ip netns` (as on CI); skips otherwise. Every
 * namespace and process it makes is removed afterwards, also when a step
 * fails or the run is interrupted (topology.ts).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, it, type TestContext } from 'node:test';
import { cli, ok, spawnCli } from '../helpers/cli.js';
import { DaemonSet, pollUntil, withTimeout, type Daemon } from '../helpers/daemon.js';
import { rpcOf } from '../helpers/api.js';
import { netnsUnavailable, sweepStale, Topology } from './topology.js';

const HOSTS = 12;
const HALF = 6;
const SEED = 0;
/** One miner in each half. */
const MINERS = [1, 7];
/** Killed and restarted in step 3: neither the seed nor a miner, both halves. */
const CRASHED = [4, 9, 11];
const P2P_PORT = 7000;
const PARTITION_MS = 60_000;
const CONVERGE_MS = 60_000;
/** CLI processes at once (each is a Node start-up; the machine has few cores). */
const CLI_PARALLEL = 4;
/** A CLI call that takes longer is killed (a liveness bound on a loaded machine, not a measurement). */
const CLI_TIMEOUT_MS = 60_000;
/** Without news from the block streams, the nodes are asked again this often. */
const RECHECK_MS = 10_000;

const unavailable = netnsUnavailable();

interface Head {
  hash: string;
  height: number;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

/**
 * `pheromones chain watch --json` kept running against one node: the hash of
 * the last block that joined its canonical chain, so the test learns of head
 * changes without polling every node. Only a hint of when to look: the heads
 * themselves are read with `chain head`.
 */
class HeadWatch {
  last: string | undefined;
  /** When each block hash was first streamed (ms since the epoch). */
  readonly seenAt = new Map<string, number>();
  private readonly child: ChildProcess;

  constructor(args: string[], prefix: string[], changes: EventEmitter) {
    this.child = spawnCli(['chain', 'watch', '--json', ...args], {}, { prefix });
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      try {
        const ev = JSON.parse(line) as { block?: { hash: string } };
        if (ev.block !== undefined) {
          this.last = ev.block.hash;
          if (!this.seenAt.has(this.last)) this.seenAt.set(this.last, Date.now());
        }
      } catch {
        return;
      }
      changes.emit('change');
    });
    this.child.stderr!.resume();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

// Skipped only where namespaces cannot be made at all (not root, or no `ip netns`): the reason is printed at
// the end of this file and shows in the runner's output. CI runs as root with iproute2 installed, so it runs there.
describe('testnet of 12 hosts in network namespaces', { skip: unavailable ?? false }, () => {
  const topo = new Topology(HOSTS, HALF);
  const net = new DaemonSet();
  /** The running daemon of each host (replaced on restart). */
  const nodes: Daemon[] = [];
  /** A block stream per node (replaced on restart), and the event they all signal on. */
  const watches: HeadWatch[] = [];
  const headChanges = new EventEmitter();
  /** Every chat text sent, in order. */
  const sent: string[] = [];
  const measured: string[] = [];
  const onSignal = (signal: NodeJS.Signals): void => {
    topo.destroySync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const onExit = (): void => topo.destroySync();

  before(async () => {
    const stale = sweepStale();
    if (stale.length > 0) console.error(`removed namespaces left by earlier runs: ${stale.join(' ')}`);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', onExit);
    await withTimeout(topo.create(), 60_000, 'the namespaces and bridges');
  });

  after(async () => {
    await Promise.all(watches.map((w) => w.stop()));
    await net.cleanup();
    topo.destroySync();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    assert.deepEqual(topo.leftovers(), [], 'every namespace of this run is gone');
    if (measured.length > 0) console.error(`netns testnet: ${measured.join('; ')}`);
  });

  const address = (i: number): string => `${topo.host(i)}:${P2P_PORT}`;
  const indexOf = (nodeId: string): number => nodes.findIndex((d) => d.nodeId === nodeId);
  const args = (i: number, withSeed: boolean): string[] => [
    '--network', 'regtest',
    '--no-stdin',
    ...(withSeed && i !== SEED ? ['--seed', address(SEED)] : []),
    ...(MINERS.includes(i) ? ['--mine'] : []),
  ];

  /** `pheromones <argv>` inside host i, against its node; its stdout. */
  async function run(i: number, argv: string[]): Promise<string> {
    const d = nodes[i]!;
    const r = await cli([...argv, '--rpc', await rpcOf(d), '--data-dir', d.dataDir], {}, { prefix: topo.exec(i), timeoutMs: CLI_TIMEOUT_MS });
    return ok(r, `host ${i}: pheromones ${argv.join(' ')}`);
  }
  async function head(i: number): Promise<Head> {
    const h = (JSON.parse(await run(i, ['chain', 'head', '--json'])) as { head: { hash: string; height: string } }).head;
    return { hash: h.hash, height: Number(h.height) };
  }
  /** The payload texts of host i's canonical chain (`chain list --txs --json` prints one page per line). */
  async function chainTexts(i: number): Promise<Set<string>> {
    const out = await run(i, ['chain', 'list', '--txs', '--limit', '1000', '--json']);
    const texts = new Set<string>();
    for (const line of out.split('\n').filter((l) => l.trim() !== '')) {
      const page = JSON.parse(line) as { blocks?: { transactions?: { payload: string }[] }[] };
      for (const b of page.blocks ?? []) for (const t of b.transactions ?? []) texts.add(decode(t.payload));
    }
    return texts;
  }
  async function poolTexts(i: number): Promise<Set<string>> {
    const res = JSON.parse(await run(i, ['tx', 'pool', '--limit', '1000', '--json'])) as { transactions?: { payload: string }[] };
    return new Set((res.transactions ?? []).map((t) => decode(t.payload)));
  }
  async function send(i: number, text: string): Promise<void> {
    await run(i, ['msg', 'send', text]);
    sent.push(text);
  }
  const everyHost = (): number[] => Array.from({ length: HOSTS }, (_, i) => i);

  /**
   * Wait until every node reports the same head, and every text of `texts` is
   * in that chain or in every node's pool. Resolves with the head and how
   * many texts were still only in the pools.
   */
  async function converge(texts: string[], timeoutMs: number, what: string): Promise<{ head: Head; pooled: number }> {
    let last = '';
    const deadline = Date.now() + timeoutMs;
    const check = async (): Promise<{ head: Head; pooled: number } | undefined> => {
      const heads = await mapLimit(everyHost(), CLI_PARALLEL, head);
      const hashes = new Set(heads.map((h) => h.hash));
      if (hashes.size !== 1) {
        last = `heads: ${heads.map((h, i) => `${i}=${h.height}/${h.hash.slice(0, 8)}`).join(' ')}`;
        return undefined;
      }
      const inChain = await chainTexts(SEED);
      const missing = texts.filter((t) => !inChain.has(t));
      if (missing.length > 0) {
        const pools = await mapLimit(everyHost(), CLI_PARALLEL, poolTexts);
        const lost = missing.filter((t) => !pools.every((p) => p.has(t)));
        if (lost.length > 0) {
          last = `one head at ${heads[0]!.height}, but neither in its chain nor in every pool: ${lost.join(', ')}`;
          return undefined;
        }
      }
      return { head: heads[0]!, pooled: missing.length };
    };
    // Each round of CLI calls is costly: look when the block streams agree, after a change once a look failed.
    for (let looked = false; ; looked = true) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}`);
      if (looked || streamsAgree() === undefined) await headsAgreeAgain(Math.min(left, RECHECK_MS));
      const result = await check();
      if (result !== undefined) return result;
    }
  }

  /** The block every node's stream last named, if they all name the same one. */
  function streamsAgree(): string | undefined {
    const lasts = new Set(watches.map((w) => w.last));
    return lasts.size === 1 ? [...lasts][0] : undefined;
  }

  /** How long after `from` the last stream named `hash`, by the test's clock. */
  function streamedAfter(hash: string, from: number): string {
    const at = watches.map((w) => w.seenAt.get(hash));
    return at.every((x) => x !== undefined) ? `${Math.max(...at) - from} ms` : 'n/a';
  }

  /** Resolve when, after the next block event, every node's stream names the same last block; or after `ms`. */
  function headsAgreeAgain(ms: number): Promise<void> {
    return new Promise((ok) => {
      const onChange = (): void => {
        if (streamsAgree() !== undefined) done();
      };
      const done = (): void => {
        clearTimeout(timer);
        headChanges.off('change', onChange);
        ok();
      };
      const timer = setTimeout(done, ms);
      headChanges.on('change', onChange);
    });
  }

  async function watch(i: number): Promise<void> {
    await watches[i]?.stop();
    const d = nodes[i]!;
    watches[i] = new HeadWatch(['--rpc', await rpcOf(d), '--data-dir', d.dataDir], topo.exec(i), headChanges);
  }

  /** Connected peers of node i, as host indexes, from its "peer connected/disconnected" logs. */
  const peersOf = (i: number): number[] => [...nodes[i]!.connectedPeers().keys()].map(indexOf);
  const peerCounts = (): string => everyHost().map((i) => `${i}:${nodes[i]!.connectedPeers().size}`).join(' ');

  it('bootstraps 12 hosts from one seed, and a message reaches every node exactly once', { timeout: 150_000 }, async (t: TestContext) => {
    const t0 = Date.now();
    nodes[SEED] = await net.start({ name: `h${SEED}`, listen: address(SEED), prefix: topo.exec(SEED), args: args(SEED, true), startTimeoutMs: 60_000 });
    const rest = await Promise.all(
      everyHost()
        .filter((i) => i !== SEED)
        .map((i) => net.start({ name: `h${i}`, listen: address(i), prefix: topo.exec(i), args: args(i, true), startTimeoutMs: 60_000 })),
    );
    for (const d of rest) nodes[Number(d.name.slice(1))] = d;
    for (const [i, d] of nodes.entries()) assert.equal(d.address, address(i), `host ${i} listens on its own address`);
    // Each node finds the others through the seed: at least 3 peers each, and some of them not the seed.
    await Promise.all(
      nodes.map((d, i) =>
        d.waitUntil(() => (peersOf(i).filter((p) => p !== SEED).length >= 3 ? true : undefined), 60_000, `host ${i}: 3 peers besides the seed`),
      ),
    );
    measured.push(`bootstrap (first start to 3 non-seed peers each) ${Date.now() - t0} ms`);
    t.diagnostic(`peers per host: ${peerCounts()}`);
    await Promise.all(everyHost().map(watch));

    const text = 'hello from host 5';
    await send(5, text);
    await Promise.all(nodes.map((d) => d.waitForChat((c) => c.text === text, 30_000, `"${text}"`)));
    // Exactly once: printed once by every daemon, and once in every node's message log.
    const logs = await mapLimit(everyHost(), CLI_PARALLEL, (i) => run(i, ['msg', 'list', '--limit', '1000', '--json']));
    const receivedAt: number[] = [];
    for (const [i, out] of logs.entries()) {
      const msgs = ((JSON.parse(out) as { messages?: { payload: string; receivedAtMs: string }[] }).messages ?? []).filter((m) => decode(m.payload) === text);
      assert.equal(msgs.length, 1, `host ${i} logged the message once`);
      assert.equal(nodes[i]!.chat().filter((c) => c.text === text).length, 1, `host ${i} printed the message once`);
      receivedAt.push(Number(msgs[0]!.receivedAtMs));
    }
    // By the nodes' own clocks (one kernel): from the sender's log entry to the last node's.
    measured.push(`one message from host 5 to all 12 ${Math.max(...receivedAt) - receivedAt[5]!} ms (by the nodes' message logs)`);
  });

  it('a partition of two mining halves for 60 s heals onto one head with no message lost', { timeout: PARTITION_MS + CONVERGE_MS + 90_000 }, async (t: TestContext) => {
    const across = (i: number): number[] => peersOf(i).filter((p) => topo.half(p) !== topo.half(i));
    assert.ok(
      everyHost().some((i) => across(i).length > 0),
      `some session crosses between the halves before the partition (${peerCounts()})`,
    );
    const splitAt = Date.now();
    await topo.setTrunk(false);
    const halves = { A: everyHost().filter((i) => topo.half(i) === 'A'), B: everyHost().filter((i) => topo.half(i) === 'B') };
    const texts: string[] = [];
    const sendBoth = async (round: string): Promise<void> => {
      for (const [side, hosts] of Object.entries(halves)) {
        for (const i of hosts.slice(2, 4)) {
          const text = `partition ${round}: half ${side}, host ${i}`;
          await send(i, text);
          texts.push(text);
        }
      }
    };
    await sendBoth('early');
    // Keep-alive notices the dead links: no session crosses the partition before it ends.
    const dropped = await Promise.all(
      everyHost().map((i) =>
        nodes[i]!.waitUntil(
          () => (across(i).length === 0 ? Date.now() - splitAt : undefined),
          Math.max(1, splitAt + PARTITION_MS - Date.now()),
          `host ${i}: sessions across the partition dropped`,
        ),
      ),
    );
    measured.push(`partition noticed (last cross session dropped) after ${Math.max(...dropped)} ms`);
    await sendBoth('late');
    // Each half's miner mines its own messages: the halves' chains diverge.
    const [headA, headB] = await Promise.all(
      (['A', 'B'] as const).map((side) => {
        const miner = MINERS.find((m) => topo.half(m) === side)!;
        const mine = texts.filter((x) => x.includes(`half ${side},`));
        return pollUntil(
          async () => {
            const inChain = await chainTexts(miner);
            return mine.every((x) => inChain.has(x)) ? head(miner) : undefined;
          },
          Math.max(1, splitAt + PARTITION_MS - Date.now()),
          `half ${side}'s miner mined its half's messages`,
          1000,
        );
      }),
    );
    assert.notEqual(headA!.hash, headB!.hash, 'the halves mined different chains');
    t.diagnostic(`before the heal: half A at ${headA!.height}, half B at ${headB!.height}; peers ${peerCounts()}`);

    // The partition lasts its full 60 s (this is the scenario, not a wait for a result).
    await new Promise((r) => setTimeout(r, Math.max(0, splitAt + PARTITION_MS - Date.now())));
    await topo.setTrunk(true);
    const healAt = Date.now();
    const result = await converge([...sent], CONVERGE_MS, 'every node on one head holding every message');
    const firstAcross = Math.min(
      ...everyHost().map((i) => {
        const r = nodes[i]!.logs.find((l) => l.msg === 'peer connected' && Number(l.time) >= healAt && topo.half(indexOf(l.peer as string)) !== topo.half(i));
        return r === undefined ? Infinity : Number(r.time) - healAt;
      }),
    );
    measured.push(`first session across the healed link after ${firstAcross} ms`);
    measured.push(`heal to one head with every message ${Date.now() - healAt} ms by the CLI, ${streamedAfter(result.head.hash, healAt)} by the block streams (height ${result.head.height}, ${result.pooled} still pooled)`);
    t.diagnostic(`converged at height ${result.head.height}; peers ${peerCounts()}`);
    assert.ok(result.head.height >= Math.max(headA!.height, headB!.height), 'the final chain is at least as high as either half was');
  });

  it('three nodes killed mid-stream rejoin from their peer stores and catch up', { timeout: 180_000 }, async (t: TestContext) => {
    const STREAM_SENDER = 0;
    let stop = false;
    let count = 0;
    const streamed: string[] = [];
    const stream = (async () => {
      while (!stop && count < 60) {
        const text = `stream ${count++}`;
        await send(STREAM_SENDER, text);
        streamed.push(text);
      }
    })();
    const atLeast = (n: number, what: string): Promise<number> => pollUntil(() => (streamed.length >= n ? streamed.length : undefined), 60_000, what, 50);
    try {
      await atLeast(3, '3 streamed messages');
      const statuses = await Promise.all(CRASHED.map((i) => nodes[i]!.kill()));
      for (const [k, s] of statuses.entries()) assert.equal(s.signal, 'SIGKILL', `host ${CRASHED[k]} was killed`);
      const before = streamed.length;
      await atLeast(before + 3, '3 more messages while the nodes are down');
      // Restarted on their data dirs and addresses, without --seed: only the peer store can lead them back.
      const restartAt = Date.now();
      for (const i of CRASHED) {
        const old = nodes[i]!;
        nodes[i] = await net.restart(old, { args: args(i, false), startTimeoutMs: 60_000 });
        await watch(i);
      }
      const n = streamed.length;
      await atLeast(n + 3, '3 more messages after the restart');
      stop = true;
      await stream;
      // Rejoined by its own dialling (outbound sessions: it has no --seed or --peer, only its store), not only by others dialling it.
      const outbound = (i: number): number => [...nodes[i]!.connectedPeers().values()].filter((r) => r.direction === 'outbound').length;
      const rejoined = await Promise.allSettled(
        CRASHED.map((i) =>
          nodes[i]!.waitUntil(
            () => (nodes[i]!.connectedPeers().size >= 3 && outbound(i) >= 1 ? true : undefined),
            Math.max(1, restartAt + 60_000 - Date.now()),
            `host ${i}: 3 peers, one dialled by it, after the restart`,
          ),
        ),
      );
      const failedRejoin = CRASHED.filter((_, k) => rejoined[k]!.status === 'rejected');
      assert.deepEqual(
        failedRejoin,
        [],
        `restarted hosts short of 3 peers or of an outbound one: ${failedRejoin.map((i) => `${i} has ${nodes[i]!.connectedPeers().size}, ${outbound(i)} outbound (${nodes[i]!.logs.filter((r) => r.msg === 'peer connected').length} sessions ever opened)`).join(', ')}`,
      );
      t.diagnostic(`restarted hosts' peers (outbound): ${CRASHED.map((i) => `${i}:${nodes[i]!.connectedPeers().size}(${outbound(i)})`).join(' ')}`);
      // From each restarted daemon's own log: "listening" to its third session.
      const rejoinMs = CRASHED.map((i) => {
        const logs = nodes[i]!.logs;
        const third = logs.filter((r) => r.msg === 'peer connected')[2];
        const listening = logs.find((r) => r.msg.startsWith('listening'));
        return Number(third?.time) - Number(listening?.time);
      });
      measured.push(`restarted nodes from listening to 3 sessions ${rejoinMs.join('/')} ms`);
      const caughtUpFrom = Date.now();
      const result = await converge([...sent], CONVERGE_MS, 'every node, restarted ones included, on one head holding every message');
      measured.push(`crash catch-up to one head with every message ${Date.now() - caughtUpFrom} ms after the last message, by the CLI (height ${result.head.height}, ${streamed.length} streamed)`);
      t.diagnostic(`converged at height ${result.head.height}; peers ${peerCounts()}`);
    } finally {
      stop = true;
      await stream.catch(() => undefined);
    }
    // No daemon printed any message twice.
    for (const [i, d] of nodes.entries()) {
      const seen = new Map<string, number>();
      for (const c of d.chat()) seen.set(c.text, (seen.get(c.text) ?? 0) + 1);
      const twice = [...seen].filter(([, k]) => k > 1).map(([text]) => text);
      assert.deepEqual(twice, [], `host ${i} printed no message twice`);
    }
  });
});

if (unavailable !== undefined) console.error(`netns testnet skipped: ${unavailable}`);
