/**
 * Simulation workload (`npm run bench -- sim`): thousands of real nodes in
 * one process on an in-memory transport and a virtual clock (bench/sim/,
 * docs/scale.md). Each (scenario, N) runs in its own child process, so its
 * peak RSS is its own.
 *
 *   npm run bench -- sim                                  # the default set
 *   npm run bench -- sim --scenario bootstrap --nodes 1000
 *   npm run bench -- sim --scenario broadcast,churn --nodes 100,1000 --seed 2
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bootstrapScenario, broadcastScenario, churnScenario, type Result, type ScenarioOptions } from './sim/scenarios.js';
import { linearFit, round } from './sim/measure.js';
import { partitionScenario } from './sim/partition.js';

const SCENARIOS = ['bootstrap', 'broadcast', 'churn', 'partition'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** What runs without --nodes: the sizes docs/scale.md reports (5,000 and up take far longer; pass --nodes). */
const DEFAULT_NODES: Record<Scenario, number[]> = {
  bootstrap: [100, 300, 1000],
  broadcast: [100, 1000],
  churn: [100],
  partition: [50, 100],
};

interface Args {
  scenarios: Scenario[];
  nodes: number[] | undefined;
  seed: number;
  messages: number | undefined;
  rate: number | undefined;
  payload: number;
  lookups: number;
  minutes: number;
  graftTimeoutMs: number | undefined;
  ihaveIntervalMs: number | undefined;
  gossipMode: 'tree' | 'flood' | undefined;
  child: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = { scenarios: [...SCENARIOS], nodes: undefined, seed: 1, messages: undefined, rate: undefined, payload: 1024, lookups: 200, minutes: 10, graftTimeoutMs: undefined, ihaveIntervalMs: undefined, gossipMode: undefined, child: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1] ?? '';
    const num = (least = Number.MIN_VALUE): number => {
      const n = Number(value);
      if (value === '' || !Number.isFinite(n) || n < least) throw new Error(`${flag} needs a ${least === 0 ? 'non-negative' : 'positive'} number, not "${value}"`);
      i++;
      return n;
    };
    switch (flag) {
      case '--scenario':
        a.scenarios = value.split(',').map((s) => {
          if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario "${s}"; known: ${SCENARIOS.join(', ')}`);
          return s as Scenario;
        });
        i++;
        break;
      case '--nodes':
        a.nodes = value.split(',').map(Number);
        if (a.nodes.some((n) => !Number.isInteger(n) || n < 4)) throw new Error(`--nodes needs integers of at least 4, not "${value}"`);
        i++;
        break;
      case '--seed':
        a.seed = num();
        break;
      case '--messages':
        a.messages = num();
        break;
      case '--rate':
        a.rate = num();
        break;
      case '--payload':
        a.payload = Math.max(8, num());
        break;
      case '--lookups':
        a.lookups = num();
        break;
      case '--minutes':
        a.minutes = num();
        break;
      case '--graft-timeout':
        a.graftTimeoutMs = num();
        break;
      case '--ihave-interval':
        a.ihaveIntervalMs = num(0);
        break;
      case '--gossip-mode':
        if (value !== 'tree' && value !== 'flood') throw new Error(`--gossip-mode is tree or flood, not "${value}"`);
        a.gossipMode = value;
        i++;
        break;
      case '--child':
        a.child = true;
        break;
      default:
        throw new Error(`unknown option "${flag}" (known: --scenario, --nodes, --seed, --messages, --rate, --payload, --lookups, --minutes, --graft-timeout, --ihave-interval, --gossip-mode)`);
    }
  }
  return a;
}

async function runOne(scenario: Scenario, nodes: number, a: Args): Promise<Result> {
  const o: ScenarioOptions = {
    nodes,
    seed: a.seed,
    lookups: a.lookups,
    messages: a.messages ?? 1000,
    rate: a.rate ?? 10,
    payloadBytes: a.payload,
    tuning: {
      ...(a.graftTimeoutMs === undefined ? {} : { gossipGraftTimeoutMs: a.graftTimeoutMs }),
      ...(a.ihaveIntervalMs === undefined ? {} : { gossipIHaveIntervalMs: a.ihaveIntervalMs }),
      ...(a.gossipMode === undefined ? {} : { gossipMode: a.gossipMode }),
    },
  };
  switch (scenario) {
    case 'bootstrap':
      return bootstrapScenario(o);
    case 'broadcast':
      return broadcastScenario(o);
    case 'churn':
      return churnScenario({ ...o, rate: a.rate ?? 2, minutes: a.minutes, fraction: 0.1 });
    case 'partition':
      return partitionScenario({ ...o, rate: a.rate ?? 1 });
  }
}

/** Run one (scenario, N) in a child process; resolves with its result line. */
function inChild(scenario: Scenario, nodes: number, argv: string[]): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  const rest = argv.filter((_, i) => !['--scenario', '--nodes'].includes(argv[i] ?? '') && !['--scenario', '--nodes'].includes(argv[i - 1] ?? ''));
  const child = fork(self, ['--child', '--scenario', scenario, '--nodes', String(nodes), ...rest], {
    execArgv: ['--max-old-space-size=22000'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Result);
      } catch {
        resolve({ scenario, nodes, error: `child exited with ${signal ?? code} and no result` });
      }
    });
  });
}

export async function run(argv: string[] = []): Promise<Result[]> {
  const a = parse(argv);
  const out: Result[] = [];
  for (const s of a.scenarios) {
    for (const n of a.nodes ?? DEFAULT_NODES[s]) {
      const r = await inChild(s, n, argv);
      // A long set is worth watching: a note per finished run (the results go to stdout at the end).
      console.error(`sim: ${s} with ${n} nodes done (${String(r.wallSeconds ?? '?')} s wall)`);
      out.push(r);
    }
  }
  const boot = out.filter((r) => r.scenario === 'bootstrap' && typeof r.lookupHopsMean === 'number');
  if (boot.length >= 2) {
    // Kademlia's promise: hops grow as log N. The slope is in hops per doubling of N.
    const fit = linearFit(boot.map((r) => Math.log2(r.nodes as number)), boot.map((r) => r.lookupHopsMean as number));
    out.push({ scenario: 'bootstrap-fit', nodes: boot.map((r) => r.nodes), hopsPerDoublingOfN: round(fit.slope, 3), hopsAtOneNode: round(fit.intercept, 3) });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--child')) {
  const a = parse(process.argv.slice(2));
  const scenario = a.scenarios[0]!;
  const nodes = a.nodes?.[0] ?? DEFAULT_NODES[scenario][0]!;
  runOne(scenario, nodes, a).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (err: unknown) => {
      console.log(JSON.stringify({ scenario, nodes, error: (err as Error).stack ?? String(err) }));
      process.exit(1);
    },
  );
}
