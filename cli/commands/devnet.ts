import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand, CliFailure, EXIT } from '../base-command.js';
import { Devnet, DEVNET_NETWORK } from '../devnet-runner.js';
import { DEVNET_ENV, devnetStatePath, processAlive, readDevnetState, removeDevnetState, writeDevnetState, type DevnetState } from '../devnet-state.js';
import { table } from '../format.js';

export default class DevnetCommand extends BaseCommand {
  // Only --json: the devnet starts nodes, it does not talk to one. (Same cast as KeystoreCommand.)
  static override baseFlags = { json: BaseCommand.baseFlags.json } as unknown as typeof BaseCommand.baseFlags;

  static override summary = 'Start N local regtest nodes linked together, node 0 mining, until Ctrl-C.';
  static override description = [
    'Each node is a real pheromones-node on 127.0.0.1 with its own data dir (node<k> under --dir, else under a temporary dir removed on exit)',
    'and its log in <data dir>/daemon.log. Node 0 mines (a block as soon as a transaction waits) and is the seed of the others.',
    `While it runs, any command reaches node k with --node k (or PHEROMONES_NODE=k): the addresses are in $${DEVNET_ENV}, else ~/.pheromones/devnet.json.`,
    'Ctrl-C or SIGTERM stops every node.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> devnet',
    '<%= config.bin %> devnet --nodes 3 --json',
    '<%= config.bin %> msg send hello --node 1',
    '<%= config.bin %> chain head --node 2',
  ];
  static override flags = {
    nodes: Flags.integer({ description: 'how many nodes', default: 4, min: 1, max: 32 }),
    dir: Flags.string({ description: 'keep the data dirs here (node0, node1, ...) across runs, instead of a temporary dir', helpValue: '<dir>' }),
    port: Flags.integer({
      description: 'first port: node k listens on port+2k (P2P) and port+2k+1 (gRPC); 0 lets the system choose',
      default: 0,
      min: 0,
      max: 65_000,
    }),
    'start-timeout': Flags.integer({ description: 'how long each node may take to start and find a peer, in milliseconds', default: 60_000, min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DevnetCommand);
    const stateFile = resolve(devnetStatePath());
    const existing = await readDevnetState(stateFile).catch((err: unknown) => {
      throw new CliFailure((err as Error).message, EXIT.usage);
    });
    if (existing !== undefined && processAlive(existing.pid)) {
      throw new CliFailure(`a devnet is already running (pid ${existing.pid}, ${stateFile}): stop it, or set ${DEVNET_ENV} to another file`, EXIT.usage);
    }
    const temporary = flags.dir === undefined;
    const dir = temporary ? await mkdtemp(join(tmpdir(), 'pheromones-devnet-')) : resolve(flags.dir!);
    if (!temporary) await mkdir(dir, { recursive: true });

    const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const interrupted = new AbortController();
    const onSignal = (): void => interrupted.abort();
    for (const s of stopSignals) process.on(s, onSignal);
    const removeData = async (): Promise<void> => {
      await removeDevnetState(stateFile);
      if (temporary) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    };
    // pino-pretty is loaded only for a terminal display: it is slow to import.
    const pretty = flags.json ? undefined : (await import('../../src/daemon/pretty-log.js')).formatPrettyLine;
    try {
      let devnet: Devnet;
      try {
        devnet = await Devnet.start({
          nodes: flags.nodes,
          dir,
          basePort: flags.port,
          startTimeoutMs: flags['start-timeout'],
          signal: interrupted.signal,
          // A terminal shows what happens on every node, one readable line each; --json output stays machine-readable.
          onLog: pretty === undefined ? undefined : (k, line) => process.stdout.write(`node ${k} | ${pretty(line)}`),
          onChat: flags.json ? undefined : (k, line) => process.stdout.write(`node ${k} | ${line}\n`),
        });
      } catch (err) {
        // Devnet.start has stopped every node it started.
        await removeData();
        if (interrupted.signal.aborted) return;
        throw new CliFailure((err as Error).message, EXIT.error);
      }
      const failure = await this.serve(devnet, { stateFile, dir, temporary, json: flags.json }, interrupted.signal);
      await devnet.stop();
      await removeData();
      if (failure !== undefined) throw new CliFailure(failure, EXIT.error);
      if (!flags.json) this.log(`devnet stopped (${devnet.nodes.length} node${devnet.nodes.length === 1 ? '' : 's'})`);
    } finally {
      for (const s of stopSignals) process.off(s, onSignal);
    }
  }

  /**
   * Publish the devnet (state file, then the addresses on stdout) and wait
   * for a signal, or for a node that dies on its own: the devnet is then not
   * what it said it was, and the reason is returned.
   */
  private async serve(devnet: Devnet, o: { stateFile: string; dir: string; temporary: boolean; json: boolean }, interrupted: AbortSignal): Promise<string | undefined> {
    const { stateFile, dir, temporary } = o;
    const state: DevnetState = { pid: process.pid, network: DEVNET_NETWORK, dir, temporary, stateFile, nodes: devnet.nodes };
    await mkdir(dirname(stateFile), { recursive: true });
    await writeDevnetState(state);
    if (o.json) {
      this.log(JSON.stringify(state));
    } else {
      this.log(
        [
          `devnet: ${devnet.nodes.length} ${DEVNET_NETWORK} node${devnet.nodes.length === 1 ? '' : 's'}, data in ${dir}${temporary ? ' (removed on exit)' : ''}`,
          table(
            ['NODE', 'GRPC', 'P2P', 'DATA DIR', ''],
            devnet.nodes.map((n) => [String(n.index), n.grpc, n.p2p, n.dataDir, n.miner ? 'miner' : '']),
          ),
          `try: ${this.config.bin} msg send hello --node 1; ${this.config.bin} chain head --node ${devnet.nodes.length - 1}`,
          'Ctrl-C stops every node.',
        ].join('\n'),
      );
    }

    return new Promise<string | undefined>((ok) => {
      if (interrupted.aborted) ok(undefined);
      interrupted.addEventListener('abort', () => ok(undefined), { once: true });
      devnet.onNodeExit((k, reason) => ok(`node ${k} stopped: ${reason}`));
    });
  }
}
