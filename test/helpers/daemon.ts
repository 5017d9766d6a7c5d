/**
 * Real `pheromones-node` processes for integration tests.
 *
 *   const net = new DaemonSet();
 *   after(() => net.cleanup());
 *   const a = await net.start();                          // 127.0.0.1:0, temp data dir, waits for "listening"
 *   const b = await net.start({ peers: [a.address] });
 *   await b.waitForLog((r) => r.msg === 'peer connected', 10_000, 'b connects');
 *   a.writeLine('hello');                                  // broadcast on "chat"
 *   await b.waitForChat((c) => c.text === 'hello', 10_000);
 *   await b.stop();                                        // SIGTERM, resolves with the exit status
 *
 * Every wait has a deadline and fails early, with the daemon's last log
 * lines, if the process exits first. Requires `npm run build` (the daemon
 * runs from dist/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Repository root, from dist/test/helpers/ where this file runs. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const DAEMON_BIN = join(REPO_ROOT, 'bin', 'pheromones-node.js');

/** One pino JSON line from a daemon's stderr. */
export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A parsed chat line: "[HH:MM:SS] <origin8> (hops N): text". */
export interface ChatLine {
  clock: string;
  origin: string;
  hops: number;
  text: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonOptions {
  /** Data dir to use (e.g. to restart on the same one); a fresh temp dir otherwise. */
  dataDir?: string;
  /** Listen address; default 127.0.0.1:0. */
  listen?: string;
  /** Persistent peers (--peer each). */
  peers?: string[];
  /** More flags, e.g. ['--handshake-timeout', '500']. */
  args?: string[];
  /** Extra environment (PHEROMONES_* of the test process itself are never inherited). */
  env?: NodeJS.ProcessEnv;
  /** How long start() waits for the "listening" log line; default 15 s. */
  startTimeoutMs?: number;
  /** Label used in failure messages. */
  name?: string;
  /**
   * A command the daemon runs under, e.g. ['ip', 'netns', 'exec', 'ns1']
   * (which execs in place, so the child's pid is the daemon's).
   */
  prefix?: string[];
}

export async function makeTempDir(prefix = 'pheromones-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A port that was free a moment ago (for tests that must know a port before starting a daemon). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (address === null || typeof address === 'string') throw new Error('no port from the kernel');
  return address.port;
}

const CHAT_LINE = /^\[(\d\d:\d\d:\d\d)\] ([0-9a-f]{8}) \(hops (\d+)\): (.*)$/;

export function parseChatLine(line: string): ChatLine | undefined {
  const m = CHAT_LINE.exec(line);
  if (!m) return undefined;
  return { clock: m[1] ?? '', origin: m[2] ?? '', hops: Number(m[3]), text: m[4] ?? '' };
}

/**
 * Resolve with the first truthy value of `check`, polled every `intervalMs`,
 * or reject after `timeoutMs`. For state with no event to wait on.
 */
export async function pollUntil<T>(
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs: number,
  what: string,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One running daemon process with its captured output. */
export class Daemon {
  readonly child: ChildProcess;
  readonly name: string;
  readonly dataDir: string;
  /** What it was started with (restart() reuses it). */
  readonly options: DaemonOptions;
  /** Every line written to stdout so far (chat lines). */
  readonly stdoutLines: string[] = [];
  /** Every JSON log record written to stderr so far. */
  readonly logs: LogRecord[] = [];
  /** Stderr lines that were not JSON (crashes, usage errors). */
  readonly stderrText: string[] = [];
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  exitStatus: ExitStatus | undefined;

  /** Known once the "listening on" line is seen (start() waits for it). */
  nodeId = '';
  port = 0;
  /** The listen host, or 127.0.0.1 for a node listening on every interface. */
  host = '127.0.0.1';

  private readonly events = new EventEmitter();

  constructor(child: ChildProcess, name: string, dataDir: string, options: DaemonOptions) {
    this.child = child;
    this.name = name;
    this.dataDir = dataDir;
    this.options = options;
    this.events.setMaxListeners(0);
    this.exited = new Promise((ok) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.events.emit('exit');
        ok(this.exitStatus);
      });
    });
    if (child.stdout) {
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
        this.stdoutLines.push(line);
        this.events.emit('change');
      });
    }
    if (child.stderr) {
      createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
        let record: LogRecord | undefined;
        try {
          const parsed = JSON.parse(line) as unknown;
          if (parsed !== null && typeof parsed === 'object' && typeof (parsed as LogRecord).msg === 'string') record = parsed as LogRecord;
        } catch {
          // not JSON: kept as text below
        }
        if (record) this.logs.push(record);
        else this.stderrText.push(line);
        this.events.emit('change');
      });
    }
    // Writes to a daemon that died are reported by the waits, not as an unhandled EPIPE.
    child.stdin?.on('error', () => undefined);
  }

  /** host:port of the P2P listener (127.0.0.1:<port> unless it listens on one other address). */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Chat lines printed so far. */
  chat(): ChatLine[] {
    return this.stdoutLines.map(parseChatLine).filter((c): c is ChatLine => c !== undefined);
  }

  /** Write one line to the daemon's stdin (broadcast on "chat"). */
  writeLine(text: string): void {
    if (!this.child.stdin || this.child.stdin.destroyed) throw new Error(`${this.name}: stdin is closed`);
    this.child.stdin.write(`${text}\n`);
  }

  /**
   * Wait until `find` returns something, re-checking whenever the daemon
   * prints; rejects after `timeoutMs` or when the process exits first.
   */
  waitUntil<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((ok, fail) => {
      const check = (): void => {
        let found: T | undefined;
        try {
          found = find();
        } catch (err) {
          finish();
          fail(err as Error);
          return;
        }
        if (found !== undefined) {
          finish();
          ok(found);
        }
      };
      const onExit = (): void => {
        check();
        if (!done) {
          finish();
          fail(new Error(`${this.name} exited (${JSON.stringify(this.exitStatus)}) while waiting for ${what}\n${this.tail()}`));
        }
      };
      let done = false;
      const timer = setTimeout(() => {
        finish();
        fail(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`));
      }, timeoutMs);
      const finish = (): void => {
        done = true;
        clearTimeout(timer);
        this.events.off('change', check);
        this.events.off('exit', onExit);
      };
      this.events.on('change', check);
      this.events.on('exit', onExit);
      check();
      if (!done && !this.running) onExit();
    });
  }

  waitForLog(match: (r: LogRecord) => boolean, timeoutMs: number, what = 'a log line'): Promise<LogRecord> {
    return this.waitUntil(() => this.logs.find(match), timeoutMs, what);
  }

  waitForStdout(match: (line: string) => boolean, timeoutMs: number, what = 'a stdout line'): Promise<string> {
    return this.waitUntil(() => this.stdoutLines.find(match), timeoutMs, what);
  }

  waitForChat(match: (c: ChatLine) => boolean, timeoutMs: number, what = 'a chat line'): Promise<ChatLine> {
    return this.waitUntil(() => this.chat().find(match), timeoutMs, what);
  }

  /** Wait until `count` log records match (counting from the start of the process). */
  waitForLogCount(match: (r: LogRecord) => boolean, count: number, timeoutMs: number, what: string): Promise<LogRecord[]> {
    return this.waitUntil(
      () => {
        const found = this.logs.filter(match);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
      what,
    );
  }

  /** The peers currently connected, as tracked from "peer connected"/"peer disconnected" logs. */
  connectedPeers(): Map<string, LogRecord> {
    const peers = new Map<string, LogRecord>();
    for (const r of this.logs) {
      if (typeof r.peer !== 'string') continue;
      if (r.msg === 'peer connected') peers.set(r.peer, r);
      else if (r.msg === 'peer disconnected') peers.delete(r.peer);
    }
    return peers;
  }

  /** Wait until the daemon has a session with every one of these node ids. */
  waitForPeers(nodeIds: string[], timeoutMs: number): Promise<Map<string, LogRecord>> {
    return this.waitUntil(
      () => {
        const peers = this.connectedPeers();
        return nodeIds.every((id) => peers.has(id)) ? peers : undefined;
      },
      timeoutMs,
      `peers ${nodeIds.map((id) => id.slice(0, 8)).join(', ')}`,
    );
  }

  /** Send a signal and wait for exit; SIGKILL (and reject) if it outlives `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((ok) => {
      timer = setTimeout(() => ok('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}\n${this.tail()}`);
    }
    return result;
  }

  /** stop(), and fail with the daemon's last lines unless it exited 0. */
  async stopCleanly(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const status = await this.stop(signal, timeoutMs);
    if (status.code !== 0) throw new Error(`${this.name} exited ${JSON.stringify(status)} on ${signal}\n${this.tail()}`);
  }

  /** Kill without a chance to clean up (a crash). */
  async kill(): Promise<ExitStatus> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** The last log and stderr lines, for failure messages. */
  tail(lines = 15): string {
    const logs = this.logs.slice(-lines).map((r) => JSON.stringify(r));
    return [...logs, ...this.stderrText.slice(-lines)].map((l) => `  ${this.name}| ${l}`).join('\n');
  }
}

/**
 * Start a daemon process without waiting for it (for tests of failures at
 * start). Flags: --listen 127.0.0.1:0 --grpc 127.0.0.1:0 --data-dir <dir>
 * plus opts; stdin/stdout/stderr are pipes.
 */
export function spawnDaemon(dataDir: string, opts: DaemonOptions = {}): Daemon {
  const args = [
    DAEMON_BIN,
    '--listen', opts.listen ?? '127.0.0.1:0',
    '--grpc', '127.0.0.1:0',
    '--data-dir', dataDir,
    ...(opts.peers ?? []).flatMap((p) => ['--peer', p]),
    ...(opts.args ?? []),
  ];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
  const [command, ...prefixArgs] = [...(opts.prefix ?? []), process.execPath, ...args] as [string, ...string[]];
  const child = spawn(command, prefixArgs, { cwd: REPO_ROOT, env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  return new Daemon(child, opts.name ?? `daemon(${dataDir.slice(-6)})`, dataDir, opts);
}

/** The node's "listening on <address>" record: it serves, and its port and id are known. */
export async function awaitListening(d: Daemon, timeoutMs = 15_000): Promise<Daemon> {
  const r = await d.waitForLog(
    (l) => l.msg.startsWith('listening') && typeof l.address === 'string' && typeof l.nodeId === 'string',
    timeoutMs,
    '"listening"',
  );
  const address = r.address as string;
  const colon = address.lastIndexOf(':');
  d.port = Number(address.slice(colon + 1));
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (host !== '0.0.0.0' && host !== '::' && host !== '') d.host = host.includes(':') ? `[${host}]` : host;
  d.nodeId = r.nodeId as string;
  return d;
}

/**
 * The daemons and temp dirs of one test file; cleanup() kills whatever is
 * still running and removes the dirs.
 */
export class DaemonSet {
  readonly daemons: Daemon[] = [];
  private readonly dirs: string[] = [];
  private count = 0;

  /** A temp dir removed by cleanup(). */
  async tempDir(): Promise<string> {
    const dir = await makeTempDir();
    this.dirs.push(dir);
    return dir;
  }

  /** Spawn without waiting for "listening". */
  async spawn(opts: DaemonOptions = {}): Promise<Daemon> {
    const dataDir = opts.dataDir ?? (await this.tempDir());
    const d = spawnDaemon(dataDir, { ...opts, name: opts.name ?? `node${this.count++}` });
    this.daemons.push(d);
    return d;
  }

  /** Spawn and wait until it listens. */
  async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const d = await this.spawn(opts);
    return awaitListening(d, opts.startTimeoutMs);
  }

  /** Start the same node again: same data dir, port, name and flags unless overridden. */
  async restart(old: Daemon, opts: DaemonOptions = {}): Promise<Daemon> {
    if (old.running) await old.stop();
    return this.start({ ...old.options, listen: old.address, name: old.name, ...opts, dataDir: old.dataDir });
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.kill()));
    await Promise.all(this.dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 })));
  }
}
