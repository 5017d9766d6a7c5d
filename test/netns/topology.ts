/**
 * A private test network of Linux network namespaces: one namespace per host,
 * each with its own loopback and one address on 10.77.0.0/24, plugged into a
 * bridge in a "hub" namespace. The hosts are split in two halves, each on its
 * own bridge; the two bridges are joined by one veth link, the trunk, so
 * bringing the trunk down partitions the halves and bringing it up heals them.
 *
 * Nothing is created in the root namespace: every interface, bridge and
 * address lives in a namespace named "<prefix>-...", with prefix phx<pid>, and
 * the namespaces have no route beyond their own /24, so nothing can reach any
 * address but those of the hosts created here. destroy() (also callable
 * synchronously from signal and exit handlers) kills every process left in
 * the namespaces and deletes them; sweepStale() does the same for the
 * namespaces of earlier runs whose process is gone.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);
/** Every `ip` call is bounded. */
const IP_TIMEOUT_MS = 10_000;
const SUBNET = '10.77.0';
const NAME = /^phx(\d+)-/;

async function ip(args: string[]): Promise<void> {
  try {
    await exec('ip', args, { timeout: IP_TIMEOUT_MS });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  try {
    execFileSync('ip', ['netns', 'list'], { timeout: IP_TIMEOUT_MS, stdio: 'ignore' });
  } catch (err) {
    return `"ip netns" is not available: ${(err as Error).message}`;
  }
  return undefined;
}

function listNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { timeout: IP_TIMEOUT_MS, encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Kill (SIGKILL, by pid) every process in namespace `ns`, then delete it. Synchronous, never throws. */
function removeNamespaceSync(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { timeout: IP_TIMEOUT_MS, encoding: 'utf8' });
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // no such namespace
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { timeout: IP_TIMEOUT_MS, stdio: 'ignore' });
  } catch {
    // already deleted
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove the namespaces (and their processes) of earlier runs that died without cleaning up. */
export function sweepStale(): string[] {
  const stale = listNamespaces().filter((ns) => {
    const m = NAME.exec(ns);
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  });
  stale.forEach(removeNamespaceSync);
  return stale;
}

export class Topology {
  readonly prefix = `phx${process.pid}`;
  readonly hub = `${this.prefix}-hub`;
  private readonly created: string[] = [];
  private destroyed = false;

  /** `hosts` hosts; host i is in half A when i < split, else in half B. */
  constructor(
    readonly hosts: number,
    readonly split: number,
  ) {
    if (hosts > 250) throw new Error('at most 250 hosts on one /24');
  }

  namespace(i: number): string {
    return `${this.prefix}-n${i}`;
  }

  /** Host i's address on the test network. */
  host(i: number): string {
    return `${SUBNET}.${i + 1}`;
  }

  half(i: number): 'A' | 'B' {
    return i < this.split ? 'A' : 'B';
  }

  /** The command prefix that runs a program inside host i. */
  exec(i: number): string[] {
    return ['ip', 'netns', 'exec', this.namespace(i)];
  }

  async create(): Promise<void> {
    const p = this.prefix;
    const hub = ['-n', this.hub];
    await ip(['netns', 'add', this.hub]);
    this.created.push(this.hub);
    await ip([...hub, 'link', 'set', 'lo', 'up']);
    for (const side of ['A', 'B']) {
      await ip([...hub, 'link', 'add', `${p}${side}`, 'type', 'bridge']);
      await ip([...hub, 'link', 'set', `${p}${side}`, 'up']);
    }
    // The trunk: the only link between the halves.
    await ip([...hub, 'link', 'add', `${p}ta`, 'type', 'veth', 'peer', 'name', `${p}tb`]);
    await ip([...hub, 'link', 'set', `${p}ta`, 'master', `${p}A`]);
    await ip([...hub, 'link', 'set', `${p}tb`, 'master', `${p}B`]);
    await ip([...hub, 'link', 'set', `${p}tb`, 'up']);
    await this.setTrunk(true);
    for (let i = 0; i < this.hosts; i++) {
      const ns = this.namespace(i);
      await ip(['netns', 'add', ns]);
      this.created.push(ns);
      // Both ends are made inside the host's namespace (never in the root one); one end moves to the hub.
      const inner = ['-n', ns];
      await ip([...inner, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `${p}h${i}`]);
      await ip([...inner, 'link', 'set', `${p}h${i}`, 'netns', this.hub]);
      await ip([...inner, 'addr', 'add', `${this.host(i)}/24`, 'dev', 'eth0']);
      await ip([...inner, 'link', 'set', 'eth0', 'up']);
      await ip([...inner, 'link', 'set', 'lo', 'up']);
      await ip([...hub, 'link', 'set', `${p}h${i}`, 'master', `${p}${this.half(i)}`]);
      await ip([...hub, 'link', 'set', `${p}h${i}`, 'up']);
    }
  }

  /** Bring the link between the halves up (joined) or down (partitioned). */
  async setTrunk(up: boolean): Promise<void> {
    await ip(['-n', this.hub, 'link', 'set', `${this.prefix}ta`, up ? 'up' : 'down']);
  }

  /** Kill whatever still runs in the namespaces and delete them; safe to call more than once, and from a signal handler. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // Hosts first: a namespace with a process in it would outlive `ip netns del`.
    for (const ns of [...this.created].reverse()) removeNamespaceSync(ns);
  }

  /** Names of this run's namespaces still present (empty after destroySync). */
  leftovers(): string[] {
    return listNamespaces().filter((ns) => ns.startsWith(`${this.prefix}-`));
  }
}
