/**
 * `--baseline <git rev>`: build another commit of this repository beside the
 * working tree, so one bench run measures both and reports ratios taken under
 * the same load of a shared machine (a figure from another day is not
 * comparable to within the run-to-run spread).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** From dist/bench/ where this runs. */
const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

export interface Baseline {
  /** The commit as given and as resolved. */
  rev: string;
  commit: string;
  /** File URL of the baseline's compiled src/node/node.js. */
  nodeModule: string;
  remove(): Promise<void>;
}

/** The value of `--name <value>` in a workload's options, if given. */
export function optionValue(options: string[], name: string): string | undefined {
  const i = options.indexOf(name);
  if (i < 0) return undefined;
  const value = options[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}

/** Check out `rev` in a temporary worktree and compile it with this tree's node_modules. */
export async function buildBaseline(rev: string): Promise<Baseline> {
  const git = (...args: string[]) => run('git', ['-C', REPO_ROOT, ...args], { maxBuffer: 16 * 2 ** 20 });
  const commit = (await git('rev-parse', '--verify', `${rev}^{commit}`)).stdout.trim();
  const dir = await mkdtemp(join(tmpdir(), 'pheromones-baseline-'));
  const remove = async (): Promise<void> => {
    await git('worktree', 'remove', '--force', dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await git('worktree', 'add', '--detach', dir, commit);
    await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
    const bin = join(REPO_ROOT, 'node_modules', '.bin');
    await run(join(bin, 'buf'), ['generate'], { cwd: dir });
    await run(join(bin, 'tsc'), ['-p', 'tsconfig.json'], { cwd: dir });
  } catch (err) {
    await remove();
    throw new Error(`cannot build the baseline ${rev}: ${(err as Error).message}`);
  }
  return { rev, commit, nodeModule: pathToFileURL(join(dir, 'dist', 'src', 'node', 'node.js')).href, remove };
}
