import { connect, type Socket } from 'node:net';
import { PheromonesError } from '../errors.js';
import { runHandshake } from './handshake-io.js';
import type { SecureConnection, SecureTransportOptions } from './types.js';

function dialError(err: NodeJS.ErrnoException, address: string): PheromonesError {
  if (err.code === 'ECONNREFUSED') return new PheromonesError('refused', `connection to ${address} refused`, { cause: err });
  if (err.code === 'ETIMEDOUT') return new PheromonesError('timeout', `connection to ${address} timed out`, { cause: err });
  return new PheromonesError('unavailable', `cannot connect to ${address}: ${err.message}`, { cause: err });
}

function withAddress(err: unknown, address: string): Error {
  if (err instanceof PheromonesError && !err.message.includes(address)) err.message = `${address}: ${err.message}`;
  return err as Error;
}

/**
 * Connects to host:port and runs the handshake as initiator. The whole of
 * connect + handshake is bounded by options.handshakeTimeoutMs.
 * Rejects with a PheromonesError: 'refused', 'timeout', 'wrong-network',
 * 'handshake-failed' or 'unavailable'; the message names the address.
 */
export function dialSecure(
  host: string,
  port: number,
  options: SecureTransportOptions,
  extra: { expectedNodeId?: string; signal?: AbortSignal } = {},
): Promise<SecureConnection> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const deadline = Date.now() + options.handshakeTimeoutMs;
  return new Promise<Socket>((resolve, reject) => {
    if (extra.signal?.aborted) {
      reject(new PheromonesError('unavailable', `dial to ${address} aborted`));
      return;
    }
    const socket = connect({ host, port });
    const done = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('connect', onConnect);
      extra.signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = (): void => {
      done();
      resolve(socket);
    };
    const onError = (err: Error): void => {
      done();
      socket.destroy();
      reject(dialError(err, address));
    };
    const onAbort = (): void => {
      done();
      socket.destroy();
      reject(new PheromonesError('unavailable', `dial to ${address} aborted`));
    };
    const timer = setTimeout(() => {
      done();
      socket.destroy();
      reject(new PheromonesError('timeout', `connection to ${address} timed out after ${options.handshakeTimeoutMs} ms`));
    }, options.handshakeTimeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    extra.signal?.addEventListener('abort', onAbort, { once: true });
  }).then(
    (socket) =>
      runHandshake(socket, 'outbound', options, deadline, extra).catch((err: unknown) => {
        throw withAddress(err, address);
      }),
  );
}
