/**
 * `npm run bench`: runs every workload and prints one JSON object per line.
 * Each workload module exports `run()`, resolving to the result objects it
 * measured; `npm run bench -- session broadcast` runs only the named ones.
 */
interface Workload {
  /** `options`: what follows the first `--flag` on the command line (e.g. `sim --nodes 1000`). */
  run(options?: string[]): Promise<Record<string, unknown>[]>;
}

/** `sim` (bench/sim.ts) is not in the default set: its full set of runs takes far longer than the others. */
const ALL = ['session', 'broadcast', 'rpc', 'chain', 'discovery', 'fairness'] as const;
const KNOWN = [...ALL, 'sim'] as const;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const firstFlag = args.findIndex((a) => a.startsWith('--'));
  const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
  const options = firstFlag < 0 ? [] : args.slice(firstFlag);
  const names = wanted.length > 0 ? wanted : [...ALL];
  let failed = false;
  for (const name of names) {
    if (!(KNOWN as readonly string[]).includes(name)) {
      console.error(`unknown workload "${name}"; known: ${KNOWN.join(', ')}`);
      process.exitCode = 2;
      return;
    }
    let mod: Workload;
    try {
      mod = (await import(`./${name}.js`)) as Workload;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && wanted.length === 0) continue;
      throw err;
    }
    try {
      for (const result of await mod.run(options)) console.log(JSON.stringify({ workload: name, ...result }));
    } catch (err) {
      failed = true;
      console.log(JSON.stringify({ workload: name, error: (err as Error).message }));
    }
  }
  if (failed) process.exitCode = 1;
}

await main();
