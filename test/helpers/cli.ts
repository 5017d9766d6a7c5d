/** The `pheromones` CLI as a child process, for tests that drive daemons the way a user does. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './daemon.js';

export const CLI_BIN = join(REPO_ROOT, 'bin', 'run.js');
const CLI_TIMEOUT_MS = 30_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** A command the CLI runs under, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  prefix?: string[];
  /** Killed (and reported with code null) after this long; default 30 s. */
  timeoutMs?: number;
}

/** Start `pheromones <args>` with only `env`'s PHEROMONES_* variables. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: CliOptions = {}): ChildProcessWithoutNullStreams {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
  const [command, ...rest] = [...(opts.prefix ?? []), process.execPath, CLI_BIN, ...args] as [string, ...string[]];
  return spawn(command, rest, { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Run `pheromones <args>` to completion with only `env`'s PHEROMONES_* variables. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}, opts: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, env, opts);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.end();
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? CLI_TIMEOUT_MS);
  const [code] = await exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** The stdout of a command that must have succeeded. */
export function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
