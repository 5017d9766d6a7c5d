/**
 * `npm run bench`: runs every workload and prints one JSON object per line.
 * Each workload module exports `run()`, resolving to the result objects it
 * measured; `npm run bench -- session broadcast` runs only the named ones.
 */
interface Workload {
  run(): Promise<Record<string, unknown>[]>;
}

const ALL = ['session', 'broadcast', 'rpc', 'chain', 'discovery', 'fairness'] as const;

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : [...ALL];
  let failed = false;
  for (const name of names) {
    if (!(ALL as readonly string[]).includes(name)) {
      console.error(`unknown workload "${name}"; known: ${ALL.join(', ')}`);
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
      for (const result of await mod.run()) console.log(JSON.stringify({ workload: name, ...result }));
    } catch (err) {
      failed = true;
      console.log(JSON.stringify({ workload: name, error: (err as Error).message }));
    }
  }
  if (failed) process.exitCode = 1;
}

await main();
