/**
 * The running `pheromones devnet`, as a JSON file other commands read so that
 * `--node <k>` reaches node k without copying addresses: written once every
 * node is up, removed when the devnet stops. Its place is $PHEROMONES_DEVNET,
 * else ~/.pheromones/devnet.json.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const DEVNET_ENV = 'PHEROMONES_DEVNET';

/** One node of the devnet, as `devnet --json` prints it. */
export interface DevnetNode {
  index: number;
  nodeId: string;
  /** gRPC API address (what --rpc takes). */
  grpc: string;
  /** P2P listen address. */
  p2p: string;
  dataDir: string;
  /** The node's log (JSON lines) and chat output. */
  log: string;
  miner: boolean;
  pid: number;
}

export interface DevnetState {
  /** The `pheromones devnet` process. */
  pid: number;
  network: string;
  /** Where the nodes' data dirs are. */
  dir: string;
  /** The dir is a temporary one, removed when the devnet stops. */
  temporary: boolean;
  stateFile: string;
  nodes: DevnetNode[];
}

export function devnetStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env[DEVNET_ENV];
  return given !== undefined && given !== '' ? given : join(homedir(), '.pheromones', 'devnet.json');
}

/** Whether a process of this id exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The state in `path`, or undefined when there is none; a file that is not ours is an error. */
export async function readDevnetState(path: string): Promise<DevnetState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the devnet state ${path}: ${(err as Error).message}`);
  }
  let state: DevnetState;
  try {
    state = JSON.parse(text) as DevnetState;
  } catch {
    throw new Error(`${path} is not a devnet state file (not JSON)`);
  }
  if (typeof state?.pid !== 'number' || !Array.isArray(state.nodes)) throw new Error(`${path} is not a devnet state file`);
  return state;
}

/** Written whole under a temporary name, then renamed: a reader never sees half a file. */
export async function writeDevnetState(state: DevnetState): Promise<void> {
  const tmp = `${state.stateFile}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, state.stateFile);
}

/** Remove the state file if it still describes this process's devnet. */
export async function removeDevnetState(path: string): Promise<void> {
  const state = await readDevnetState(path).catch(() => undefined);
  if (state?.pid === process.pid) await rm(path, { force: true });
}
