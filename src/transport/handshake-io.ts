import type { Socket } from 'node:net';
import { DisconnectReason, type Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import { PheromonesError } from '../errors.js';
import { decodeEnvelope, encodeEnvelope } from '../wire/envelope.js';
import { PlainFrameDecoder, encodePlainFrame } from '../wire/plain-frame.js';
import {
  HandshakeError,
  disconnectEnvelope,
  freshSecrets,
  initiatorOnResponse,
  initiatorStart,
  responderOnFinish,
  responderOnInit,
  type HandshakeContext,
  type HandshakeResult,
} from './handshake.js';
import { SecureConnectionImpl } from './secure-connection.js';
import type { Direction, SecureTransportOptions } from './types.js';

/** How long a failed handshake waits for its Disconnect to be flushed before destroying the socket. */
const FAIL_GRACE_MS = 500;

type Step = (env: Envelope) => Promise<SecureConnectionImpl | undefined>;

/**
 * Runs the handshake over a connected socket. `deadline` (ms since epoch,
 * from TCP connect) bounds a silent or slow peer; on any failure the socket
 * is ended (with a plain Disconnect where safe) and the promise rejects with
 * a HandshakeError or a PheromonesError.
 */
export function runHandshake(
  socket: Socket,
  direction: Direction,
  options: SecureTransportOptions,
  deadline: number,
  extra: { expectedNodeId?: string; signal?: AbortSignal } = {},
): Promise<SecureConnectionImpl> {
  // Started at once so the ephemeral key is made (on the thread pool) while we wait for the peer.
  const secrets = freshSecrets();
  const context = async (): Promise<HandshakeContext> => ({
    identity: options.identity,
    hello: options.hello,
    secrets: await secrets,
  });
  const decoder = new PlainFrameDecoder(options.maxFrameBytes);
  const where = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

  return new Promise<SecureConnectionImpl>((resolve, reject) => {
    let settled = false;
    let running = false;
    let step: Step;

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      extra.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: Error, sendReason?: DisconnectReason): void => {
      if (settled) return;
      cleanup();
      // The socket is being discarded; a late reset on it must not become an uncaught error.
      socket.on('error', () => undefined);
      if (sendReason !== undefined && !socket.destroyed && socket.writable) {
        try {
          socket.end(encodePlainFrame(encodeEnvelope(disconnectEnvelope(sendReason, err.message)), options.maxFrameBytes));
        } catch {
          socket.destroy();
        }
        setTimeout(() => socket.destroy(), FAIL_GRACE_MS).unref();
      } else {
        socket.destroy();
      }
      reject(err);
    };
    const failWith = (err: unknown): void => {
      if (err instanceof HandshakeError) {
        fail(err, err.remote ? undefined : err.reason);
      } else if (err instanceof PheromonesError) {
        fail(
          new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, `bad handshake frame from ${where}: ${err.message}`, { cause: err }),
          DisconnectReason.HANDSHAKE_FAILED,
        );
      } else {
        fail(
          new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, `handshake with ${where} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }),
          DisconnectReason.HANDSHAKE_FAILED,
        );
      }
    };
    const sendPlain = (env: Envelope): void => {
      socket.write(encodePlainFrame(encodeEnvelope(env), options.maxFrameBytes));
    };
    const established = (r: HandshakeResult): SecureConnectionImpl => {
      cleanup();
      return new SecureConnectionImpl({
        socket,
        direction,
        remoteId: r.remoteId,
        remoteHello: r.remoteHello,
        sendKey: r.sendKey,
        receiveKey: r.receiveKey,
        maxFrameBytes: options.maxFrameBytes,
        leftover: decoder.takeRemaining(),
      });
    };

    /** Feeds complete frames to the current step, one at a time; bytes arriving meanwhile wait in the decoder. */
    const pump = async (): Promise<void> => {
      if (running) return;
      running = true;
      try {
        while (!settled) {
          const body = decoder.next();
          if (body === undefined) return;
          const conn = await step(decodeEnvelope(body));
          if (conn !== undefined) {
            resolve(conn);
            return;
          }
          if (settled) return; // failed (timeout, close, abort) while the step ran
        }
      } catch (err) {
        failWith(err);
      } finally {
        running = false;
      }
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      decoder.push(chunk);
      void pump();
    };
    const onError = (err: Error): void =>
      fail(new PheromonesError('unavailable', `handshake with ${where} failed: ${err.message}`, { cause: err }));
    const onClose = (): void =>
      fail(new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, `${where} closed the connection during the handshake`, { remote: true }));
    const onAbort = (): void => fail(new PheromonesError('unavailable', `handshake with ${where} aborted`));

    const timer = setTimeout(
      () => {
        fail(new HandshakeError(DisconnectReason.TIMEOUT, `handshake with ${where} did not complete within ${options.handshakeTimeoutMs} ms`));
      },
      Math.max(0, deadline - Date.now()),
    );

    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    if (extra.signal) {
      if (extra.signal.aborted) return onAbort();
      extra.signal.addEventListener('abort', onAbort, { once: true });
    }

    const unexpected: Step = () => {
      throw new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'unexpected frame during the handshake');
    };
    if (direction === 'outbound') {
      step = unexpected; // nothing may arrive before our init is out
      running = true;
      void (async () => {
        try {
          const ctx = await context();
          if (settled) return;
          const { envelope, ownHello } = initiatorStart(ctx);
          step = async (env) => {
            step = unexpected;
            const { envelope: finish, result } = await initiatorOnResponse(ctx, ownHello, env, extra.expectedNodeId);
            if (settled) return undefined;
            sendPlain(finish);
            return established(result);
          };
          sendPlain(envelope);
        } catch (err) {
          failWith(err);
        } finally {
          running = false;
        }
        void pump();
      })();
    } else {
      step = async (env) => {
        step = unexpected;
        const ctx = await context();
        const { envelope, pending } = await responderOnInit(ctx, env);
        if (settled) return undefined;
        sendPlain(envelope);
        step = async (fin) => {
          step = unexpected;
          const result = await responderOnFinish(pending, fin);
          return settled ? undefined : established(result);
        };
        return undefined;
      };
    }
  });
}
