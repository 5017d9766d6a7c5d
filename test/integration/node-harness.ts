import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { NodeConfig, NodeTuning } from '../../src/node/config.js';
import { Node } from '../../src/node/node.js';
import type { PeerEvent, StoredMessage } from '../../src/node/types.js';

/** Short timings so failures and redials show up within a test's budget. */
export const FAST_TUNING: Partial<NodeTuning> = {
  handshakeTimeoutMs: 3_000,
  pingIntervalMs: 200,
  pingTimeoutMs: 2_000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 400,
};

export const WAIT_MS = 10_000;

/** Real nodes on 127.0.0.1, each with its own temp data dir, all removed by cleanup(). */
export class NodeSet {
  readonly nodes: Node[] = [];
  private readonly dirs: string[] = [];

  async dir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'pheromones-node-'));
    this.dirs.push(d);
    return d;
  }

  config(dataDir: string, over: Partial<NodeConfig> = {}): NodeConfig {
    return {
      dataDir,
      network: 'testnet',
      listenHost: '127.0.0.1',
      listenPort: 0,
      peers: [],
      maxInbound: 32,
      maxOutbound: 32,
      grpcAddress: '',
      logger: pino({ level: process.env.PHEROMONES_TEST_LOG ?? 'silent' }),
      ...over,
      tuning: { ...FAST_TUNING, ...over.tuning },
    };
  }

  async start(over: Partial<NodeConfig> = {}): Promise<Node> {
    const node = new Node(this.config(over.dataDir ?? (await this.dir()), over));
    this.nodes.push(node);
    await node.start();
    return node;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => undefined)));
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** Poll `check` until it holds, or fail naming `what` after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the first peer event matching `match`. */
export function nextPeerEvent(node: Node, match: (ev: PeerEvent) => boolean, ms = WAIT_MS): Promise<PeerEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching peer event within ${ms} ms`));
    }, ms);
    const off = node.onPeerEvent((ev) => {
      if (!match(ev)) return;
      clearTimeout(timer);
      off();
      resolve(ev);
    });
  });
}

/** Collects every message a node delivers. */
export function collect(node: Node): StoredMessage[] {
  const got: StoredMessage[] = [];
  node.onMessage((m) => got.push(m));
  return got;
}

/** Connect a to b and wait until both sides list the session. */
export async function link(a: Node, b: Node): Promise<void> {
  await a.addPeer(b.listenAddress, { persistent: false, timeoutMs: 5_000 });
  await waitFor(`${b.nodeId.slice(0, 8)} to list ${a.nodeId.slice(0, 8)}`, () => b.listPeers().some((p) => p.nodeId === a.nodeId));
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * A TCP relay in front of a node, for links that misbehave on command:
 * `stall()` stops reading from the node (the node's writes pile up),
 * `freeze()` stops both directions (the node hears nothing).
 */
export class StallingProxy {
  private server: Server | undefined;
  private readonly pairs: { client: Socket; upstream: Socket }[] = [];
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      this.pairs.push({ client, upstream });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Stop reading what the node sends. */
  stall(): void {
    for (const { client, upstream } of this.pairs) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  /** Stop relaying in both directions. */
  freeze(): void {
    this.stall();
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      client.pause();
    }
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
