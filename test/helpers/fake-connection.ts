import { EventEmitter } from 'node:events';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  DisconnectReason,
  EnvelopeSchema,
  NodeHelloSchema,
  type Envelope,
  type NodeHello,
} from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { DEFAULT_QUEUE, type CloseInfo, type Direction, type QueueSent, type SecureConnection } from '../../src/transport/types.js';

/**
 * A SecureConnection without a socket, for peer-layer unit tests: it records
 * what is sent and closes when told; the test plays the remote with deliver().
 */
export class FakeConn extends EventEmitter implements SecureConnection {
  readonly remoteHello: NodeHello;
  readonly remoteAddress = '127.0.0.1';
  bytesWritten = 0;
  bytesRead = 0;
  queuedBytes = 0;
  closed = false;
  closeReason: DisconnectReason | undefined;
  readonly sent: { env: Envelope; queue: string }[] = [];

  constructor(
    readonly direction: Direction,
    readonly remoteId: string,
    protocols: { name: string; versions: number[] }[] = [{ name: 'echo', versions: [1] }],
    listenPort = 7000,
    readonly remotePort = 40_000 + Math.floor(Math.random() * 1000),
  ) {
    super();
    this.remoteHello = create(NodeHelloSchema, { listenPort, protocols, userAgent: 'fake' });
  }
  send(env: Envelope, queue: string = DEFAULT_QUEUE): void {
    this.sent.push({ env, queue });
  }
  sendEncoded(body: Uint8Array, queue: string = DEFAULT_QUEUE): void {
    this.send(fromBinary(EnvelopeSchema, body), queue);
  }
  /** Everything sent counts as handed to the socket at once. */
  sentByQueue(): QueueSent[] {
    const byQueue = new Map<string, QueueSent>();
    for (const { env, queue } of this.sent) {
      const q = byQueue.get(queue) ?? { queue, frames: 0, bytes: 0 };
      q.frames++;
      q.bytes += toBinary(EnvelopeSchema, env).length;
      byQueue.set(queue, q);
    }
    return [...byQueue.values()];
  }
  close(reason: DisconnectReason, detail = ''): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    const info: CloseInfo = { reason, detail, remote: false };
    process.nextTick(() => this.emit('close', info));
  }
  /** The remote sends one envelope. */
  deliver(kind: Envelope['kind']): void {
    this.emit('message', create(EnvelopeSchema, { kind }), 10);
  }
}
