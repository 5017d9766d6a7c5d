/**
 * The processes of `pheromones devnet`: N real `pheromones-node` daemons on
 * regtest and loopback, node 0 mining and the seed of the others. Started
 * in order (node 0 first: the others need its address), each considered up
 * once its API listens and it has a peer; stopped together, and never left
 * behind: a node that fails to start stops the ones already running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DevnetNode } from './devnet-state.js';

/** dist/cli/ → the package's bin/. */
const DAEMON_BIN = fileURLToPath(new URL('../../bin/pheromones-node.js', import.meta.url));

export const DEVNET_NETWORK = 'regtest';

/** One pino record from a node's stderr. */
export interface NodeLogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface DevnetOptions {
  nodes: number;
  dir: string;
  /** 0: every port chosen by the system; else node k listens on base+2k (P2P) and base+2k+1 (gRPC). */
  basePort: number;
  /** How long one node may take to listen and find a peer. */
  startTimeoutMs: number;
  /** Aborting it stops the start: the nodes started are stopped and start() rejects. */
  signal?: AbortSignal;
  /** Every JSON log line of every node (for the terminal display). */
  onLog?: (index: number, line: string, record: NodeLogRecord) => void;
  /** Every chat line a node prints. */
  onChat?: (index: number, line: string) => void;
}

/** How long a node gets between SIGTERM and SIGKILL. */
const STOP_TIMEOUT_MS = 15_000;

/** A daemon of the devnet with what it logged so far. */
class NodeProcess {
  readonly child: ChildProcess;
  readonly logs: NodeLogRecord[] = [];
  /** Stderr lines that are not JSON (a usage error, a crash). */
  readonly otherStderr: string[] = [];
  exited = false;
  private readonly events = new EventEmitter();
  private readonly logFile: WriteStream;

  constructor(
    readonly index: number,
    readonly dataDir: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    options: DevnetOptions,
  ) {
    this.logFile = createWriteStream(join(dataDir, 'daemon.log'), { flags: 'a' });
    this.logFile.on('error', () => undefined);
    // The IPC channel is only a lifeline: it closes when this process dies, however it dies, and the daemon then stops.
    this.child = spawn(process.execPath, [DAEMON_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.events.setMaxListeners(0);
    this.child.once('exit', () => {
      this.exited = true;
      this.events.emit('change');
    });
    // A spawn failure (no such executable) arrives as 'error', then 'exit' may never come.
    this.child.once('error', (err) => {
      this.otherStderr.push(err.message);
      this.exited = true;
      this.events.emit('change');
    });
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      this.logFile.write(`${line}\n`);
      options.onChat?.(index, line);
    });
    createInterface({ input: this.child.stderr!, crlfDelay: Infinity }).on('line', (line) => {
      this.logFile.write(`${line}\n`);
      let record: NodeLogRecord | undefined;
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed !== null && typeof parsed === 'object' && typeof (parsed as NodeLogRecord).msg === 'string') record = parsed as NodeLogRecord;
      } catch {
        // not JSON: kept below
      }
      if (record === undefined) this.otherStderr.push(line);
      else {
        this.logs.push(record);
        options.onLog?.(index, line, record);
      }
      this.events.emit('change');
    });
  }

  get logPath(): string {
    return join(this.dataDir, 'daemon.log');
  }

  /** Why the process ended, in its own words: its fatal log line or last stderr line. */
  failure(): string {
    const fatal = [...this.logs].reverse().find((r) => r.level >= 50);
    if (fatal !== undefined) return fatal.msg;
    const last = this.otherStderr.filter((l) => l.trim() !== '').at(-1);
    if (last !== undefined) return last.replace(/^pheromones-node: /, '').replace(/ \(see --help\)$/, '');
    return `it exited (${this.child.exitCode ?? this.child.signalCode ?? 'unknown status'})`;
  }

  /** The first log record `match` accepts; rejects when the process exits first or time runs out. */
  waitForLog(match: (r: NodeLogRecord) => boolean, timeoutMs: number, what: string, signal?: AbortSignal): Promise<NodeLogRecord> {
    return new Promise((ok, fail) => {
      const abort = (): void => {
        done();
        fail(new Error('devnet start interrupted'));
      };
      const check = (): void => {
        const found = this.logs.find(match);
        if (found !== undefined) {
          done();
          ok(found);
        } else if (this.exited) {
          done();
          fail(new Error(`node ${this.index} did not start: ${this.failure()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        fail(new Error(`node ${this.index} did not start: no ${what} within ${timeoutMs} ms (log: ${this.logPath})`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.events.off('change', check);
        signal?.removeEventListener('abort', abort);
      };
      this.events.on('change', check);
      if (signal?.aborted === true) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      check();
    });
  }

  /** SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((ok) => {
        if (this.exited) ok();
        else this.events.on('change', () => this.exited && ok());
      });
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await gone;
      clearTimeout(timer);
    }
    await new Promise<void>((ok) => this.logFile.end(ok));
  }
}

/** A running devnet; stop() ends every node. */
export class Devnet {
  private constructor(
    private readonly processes: NodeProcess[],
    readonly nodes: DevnetNode[],
  ) {}

  /** Start every node; on any failure, stop those started and reject with the node's reason. */
  static async start(options: DevnetOptions): Promise<Devnet> {
    const processes: NodeProcess[] = [];
    // The nodes see only their own flags: a PHEROMONES_* variable of this shell (a data dir, a config file) would reach all of them.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
    const launch = async (index: number, seed: string | undefined): Promise<NodeProcess> => {
      if (options.signal?.aborted === true) throw new Error('devnet start interrupted');
      const dataDir = join(options.dir, `node${index}`);
      await mkdir(dataDir, { recursive: true });
      const port = (offset: number): number => (options.basePort === 0 ? 0 : options.basePort + 2 * index + offset);
      const args = [
        '--network', DEVNET_NETWORK,
        '--listen', `127.0.0.1:${port(0)}`,
        '--grpc', `127.0.0.1:${port(1)}`,
        '--data-dir', dataDir,
        '--log-format', 'json',
        '--no-stdin',
        ...(index === 0 ? ['--mine'] : []),
        ...(seed === undefined ? [] : ['--seed', seed]),
      ];
      const p = new NodeProcess(index, dataDir, args, env, options);
      processes.push(p);
      return p;
    };
    const up = async (p: NodeProcess): Promise<DevnetNode> => {
      const listening = await p.waitForLog((r) => r.msg.startsWith('listening on') && typeof r.address === 'string', options.startTimeoutMs, '"listening on" log line', options.signal);
      const api = await p.waitForLog((r) => r.msg === 'api listening' && typeof r.address === 'string', options.startTimeoutMs, '"api listening" log line', options.signal);
      return {
        index: p.index,
        nodeId: String(listening.nodeId),
        grpc: String(api.address),
        p2p: String(listening.address),
        dataDir: p.dataDir,
        log: p.logPath,
        miner: p.index === 0,
        pid: p.child.pid ?? 0,
      };
    };
    try {
      const first = await up(await launch(0, undefined));
      // Every launch settles before any wait: a failure then finds all the processes there are to stop.
      const launched = await Promise.allSettled(Array.from({ length: options.nodes - 1 }, (_, i) => launch(i + 1, first.p2p)));
      const rest = await Promise.all(
        launched.map((l) => {
          if (l.status === 'rejected') throw l.reason;
          return up(l.value);
        }),
      );
      const nodes = [first, ...rest];
      // Up means linked: a message sent now reaches every node.
      if (nodes.length > 1) {
        await Promise.all(processes.map((p) => p.waitForLog((r) => r.msg === 'peer connected', options.startTimeoutMs, 'peer', options.signal)));
      }
      return new Devnet(processes, nodes);
    } catch (err) {
      await Promise.all(processes.map((p) => p.stop()));
      throw err;
    }
  }

  /** Any node that exited on its own (the devnet then stops the rest). */
  onNodeExit(listener: (index: number, reason: string) => void): void {
    for (const p of this.processes) {
      p.child.once('exit', () => listener(p.index, p.failure()));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }
}
