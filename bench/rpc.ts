/**
 * RPC workload: one real Node in this process behind the real gRPC server on
 * loopback, driven through the typed client the CLI uses.
 * - unary latency: NodeService.GetInfo, sequential calls, p50 and p99 (ms);
 * - Subscribe throughput: messages/s received by a client streaming a log
 *   of 20,000 messages of 256 bytes (Subscribe with replay from seq 0),
 *   first request to last message.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Node } from '../src/node/node.js';
import { startApiServer } from '../src/api/server.js';
import { ApiChannel } from '../src/api/client.js';
import { NodeService } from '../src/gen/pheromones/admin/v1/node_pb.js';
import { MessageService } from '../src/gen/pheromones/admin/v1/message_pb.js';

const WARMUP_CALLS = 200;
const UNARY_CALLS = 2_000;
const STREAM_MESSAGES = 20_000;
const PAYLOAD_BYTES = 256;
/** Broadcasts in flight while filling the log. */
const FILL_WINDOW = 64;

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export async function run(): Promise<Record<string, unknown>[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pheromones-bench-rpc-'));
  const node = new Node({
    dataDir,
    network: 'bench',
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers: [],
    maxInbound: 8,
    maxOutbound: 8,
    grpcAddress: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
  });
  await node.start();
  const server = await startApiServer({ node, address: '127.0.0.1:0', dataDir });
  const channel = new ApiChannel({ address: server.address, token: server.token, timeoutMs: 10_000 });
  try {
    const info = channel.service(NodeService);
    for (let i = 0; i < WARMUP_CALLS; i++) await info.getInfo();
    const samples: number[] = [];
    const unaryStart = performance.now();
    for (let i = 0; i < UNARY_CALLS; i++) {
      const t0 = performance.now();
      await info.getInfo();
      samples.push(performance.now() - t0);
    }
    const unaryElapsed = performance.now() - unaryStart;
    samples.sort((a, b) => a - b);

    // Fill the log through the node itself (not measured).
    const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x61);
    let next = 0;
    await Promise.all(
      Array.from({ length: FILL_WINDOW }, async () => {
        while (next < STREAM_MESSAGES) {
          next++;
          await node.broadcast('bench', payload);
        }
      }),
    );

    const messages = channel.service(MessageService);
    const streamStart = performance.now();
    let received = 0;
    const ac = new AbortController();
    for await (const ev of messages.subscribe({ topic: 'bench', replay: true, afterSeq: 0n }, { signal: ac.signal })) {
      if (ev.event.case === 'message' && ++received === STREAM_MESSAGES) ac.abort();
    }
    const streamElapsed = performance.now() - streamStart;

    return [
      {
        rpc: 'NodeService.GetInfo',
        calls: UNARY_CALLS,
        p50_ms: round(percentile(samples, 50)),
        p99_ms: round(percentile(samples, 99)),
        calls_per_s: Math.round(UNARY_CALLS / (unaryElapsed / 1000)),
      },
      {
        rpc: 'MessageService.Subscribe',
        mode: 'replay',
        messages: received,
        payload_bytes: PAYLOAD_BYTES,
        msgs_per_s: Math.round(received / (streamElapsed / 1000)),
      },
    ];
  } finally {
    channel.close();
    await server.stop();
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
