/**
 * Session throughput and handshake rate, both ends in this process over
 * 127.0.0.1 TCP. Reference points measured in the same run: raw TCP, and raw
 * TCP with AES-256-GCM per 64 KiB chunk (the encrypted limit a session can
 * approach). See docs/protocol.md, "Performance".
 */
import { createCipheriv, createDecipheriv, randomBytes, type DecipherGCM } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { DisconnectReason, EnvelopeSchema } from '../src/gen/pheromones/wire/v1/wire_pb.js';
import { generateIdentity, type NodeIdentity } from '../src/crypto/identity.js';
import { networkIdFor } from '../src/crypto/network.js';
import { dialSecure, listenSecure, type SecureConnection, type SecureTransportOptions } from '../src/transport/index.js';

const MiB = 1024 * 1024;
const BULK_BYTES = 256 * MiB;
/**
 * The host is shared and noisy, so the three bulk workloads run interleaved
 * ROUNDS times and each reports its best round: the ratio then compares runs
 * made under the same conditions.
 */
const ROUNDS = 3;
const SMALL_MESSAGES = 500_000;
const CHUNK = 64 * 1024;
const SEND_WINDOW = 4 * MiB;

function options(identity: NodeIdentity): SecureTransportOptions {
  return {
    identity,
    hello: { networkId: networkIdFor('bench'), protocolVersion: 1, listenPort: 0, protocols: [], userAgent: 'pheromones/bench' },
    handshakeTimeoutMs: 10_000,
    maxFrameBytes: 4 * MiB,
  };
}

async function rawPair(): Promise<{ client: Socket; server: Socket; close(): void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  client.setNoDelay(true);
  server.setNoDelay(true);
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

/** Writes `total` bytes of `next()` chunks with backpressure. */
async function pump(sock: Socket, total: number, next: () => Buffer[]): Promise<void> {
  let sent = 0;
  while (sent < total) {
    let ok = true;
    for (const b of next()) ok = sock.write(b);
    sent += CHUNK;
    if (!ok) await once(sock, 'drain');
  }
}

async function rawTcp(): Promise<Record<string, unknown>> {
  const { client, server, close } = await rawPair();
  const chunk = randomBytes(CHUNK);
  let received = 0;
  const done = new Promise<void>((resolve) =>
    server.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= BULK_BYTES) resolve();
    }),
  );
  const t0 = performance.now();
  await pump(client, BULK_BYTES, () => [chunk]);
  await done;
  const s = (performance.now() - t0) / 1000;
  close();
  return { name: 'raw-tcp-64k', mb_per_s: round(BULK_BYTES / MiB / s) };
}

async function rawTcpAesGcm(): Promise<Record<string, unknown>> {
  const { client, server, close } = await rawPair();
  const key = randomBytes(32);
  const plaintext = randomBytes(CHUNK);
  const sendNonce = Buffer.alloc(12);
  const recvNonce = Buffer.alloc(12);
  let sendCounter = 0;
  let recvCounter = 0;
  // Receiver: decrypt each chunk's slices straight from the socket buffers (no reassembly copy).
  let decipher: DecipherGCM | undefined;
  let ctLeft = 0;
  let tag = Buffer.alloc(0);
  let received = 0;
  const done = new Promise<void>((resolve) =>
    server.on('data', (d: Buffer) => {
      let at = 0;
      while (at < d.length) {
        if (decipher === undefined) {
          recvNonce.writeUInt32BE(recvCounter++, 8);
          decipher = createDecipheriv('aes-256-gcm', key, recvNonce);
          ctLeft = CHUNK;
          tag = Buffer.alloc(0);
        }
        if (ctLeft > 0) {
          const n = Math.min(ctLeft, d.length - at);
          decipher.update(d.subarray(at, at + n));
          ctLeft -= n;
          at += n;
          continue;
        }
        const n = Math.min(16 - tag.length, d.length - at);
        tag = Buffer.concat([tag, d.subarray(at, at + n)]);
        at += n;
        if (tag.length === 16) {
          decipher.setAuthTag(tag);
          decipher.final();
          decipher = undefined;
          received += CHUNK;
        }
      }
      if (received >= BULK_BYTES) resolve();
    }),
  );
  const t0 = performance.now();
  await pump(client, BULK_BYTES, () => {
    sendNonce.writeUInt32BE(sendCounter++, 8);
    const c = createCipheriv('aes-256-gcm', key, sendNonce);
    const ct = c.update(plaintext);
    c.final();
    return [ct, c.getAuthTag()];
  });
  await done;
  const s = (performance.now() - t0) / 1000;
  close();
  return { name: 'raw-tcp-aesgcm-64k', mb_per_s: round(BULK_BYTES / MiB / s) };
}

async function sessionPair(): Promise<{ client: SecureConnection; server: SecureConnection; close(): Promise<void> }> {
  let resolveServer!: (c: SecureConnection) => void;
  const serverConn = new Promise<SecureConnection>((r) => (resolveServer = r));
  const listener = await listenSecure('127.0.0.1', 0, options(generateIdentity()), { onConnection: (c) => resolveServer(c) });
  const client = await dialSecure('127.0.0.1', listener.port, options(generateIdentity()));
  const server = await serverConn;
  return {
    client,
    server,
    close: async () => {
      client.close(DisconnectReason.REQUESTED);
      server.close(DisconnectReason.REQUESTED);
      await listener.close();
    },
  };
}

/** Sends `count` copies of `body` keeping at most SEND_WINDOW queued; resolves when all arrived. */
async function sessionRun(payloadBytes: number, count: number): Promise<number> {
  const { client, server, close } = await sessionPair();
  const body = toBinary(
    EnvelopeSchema,
    create(EnvelopeSchema, { kind: { case: 'direct', value: { topic: 'bench', payload: randomBytes(payloadBytes) } } }),
  );
  let received = 0;
  const done = new Promise<void>((resolve) =>
    server.on('message', () => {
      if (++received === count) resolve();
    }),
  );
  const t0 = performance.now();
  let sent = 0;
  while (sent < count) {
    while (sent < count && client.queuedBytes < SEND_WINDOW) {
      client.sendEncoded(body);
      sent++;
    }
    if (sent < count) await once(client, 'drain');
  }
  await done;
  const s = (performance.now() - t0) / 1000;
  await close();
  return s;
}

/**
 * Handshakes per second, and the CPU time this process spent per handshake
 * (both ends, every thread): on the shared host the rate varies with the
 * load, the CPU time much less.
 */
async function handshakes(concurrency: number, total: number): Promise<{ per_s: number; cpu_ms_per_handshake: number }> {
  const serverId = generateIdentity();
  const clientId = generateIdentity();
  const accepted: SecureConnection[] = [];
  const listener = await listenSecure('127.0.0.1', 0, options(serverId), { onConnection: (c) => accepted.push(c) });
  const clientOpts = options(clientId);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      const c = await dialSecure('127.0.0.1', listener.port, clientOpts);
      c.close(DisconnectReason.REQUESTED);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const c of accepted) c.close(DisconnectReason.REQUESTED);
  await listener.close();
  return { per_s: round(total / s), cpu_ms_per_handshake: Math.round((cpu.user + cpu.system) / 10 / total) / 100 };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function best(rounds: Record<string, unknown>[]): Record<string, unknown> {
  const sorted = [...rounds].sort((a, b) => (b.mb_per_s as number) - (a.mb_per_s as number));
  return { ...sorted[0]!, rounds: rounds.map((r) => r.mb_per_s) };
}

export async function run(): Promise<Record<string, unknown>[]> {
  const results: Record<string, unknown>[] = [];
  const count64 = BULK_BYTES / CHUNK;
  const rawRounds: Record<string, unknown>[] = [];
  const limitRounds: Record<string, unknown>[] = [];
  const sessionRounds: Record<string, unknown>[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    rawRounds.push(await rawTcp());
    limitRounds.push(await rawTcpAesGcm());
    const s64 = await sessionRun(CHUNK, count64);
    sessionRounds.push({ name: 'session-64k', mb_per_s: round((count64 * CHUNK) / MiB / s64), messages: count64 });
  }
  const raw = best(rawRounds);
  const limit = best(limitRounds);
  const session = best(sessionRounds);
  const mb = session.mb_per_s as number;
  results.push(raw, limit, {
    ...session,
    ratio_to_encrypted_limit: Math.round((mb / (limit.mb_per_s as number)) * 100) / 100,
    ratio_to_raw_tcp: Math.round((mb / (raw.mb_per_s as number)) * 100) / 100,
  });
  const s1 = await sessionRun(1024, SMALL_MESSAGES);
  results.push({ name: 'session-1k', msgs_per_s: Math.round(SMALL_MESSAGES / s1), mb_per_s: round((SMALL_MESSAGES * 1024) / MiB / s1) });
  // Warm-up: the first handshake loads the secp256k1 WebAssembly module.
  await handshakes(4, 20);
  results.push({ name: 'handshakes-sequential', ...(await handshakes(1, 300)) });
  results.push({ name: 'handshakes-concurrent-16', ...(await handshakes(16, 480)) });
  return results;
}
