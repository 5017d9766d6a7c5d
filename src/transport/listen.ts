import { createServer, type Socket } from 'node:net';
import { PheromonesError } from '../errors.js';
import { runHandshake } from './handshake-io.js';
import type { SecureConnection, SecureTransportOptions } from './types.js';

export interface SecureListenerHandlers {
  onConnection(conn: SecureConnection): void;
  onHandshakeError?(err: Error, remoteAddress: string): void;
}

export interface SecureListener {
  host: string;
  port: number;
  /** Stops accepting and drops connections still in their handshake; established ones stay. */
  close(): Promise<void>;
}

/** Runs the responder side of the handshake on an accepted socket. */
export function acceptSecure(socket: Socket, options: SecureTransportOptions): Promise<SecureConnection> {
  return runHandshake(socket, 'inbound', options, Date.now() + options.handshakeTimeoutMs);
}

/** Listens on host:port (0 picks a free port) and hands every authenticated connection to onConnection. */
export function listenSecure(
  host: string,
  port: number,
  options: SecureTransportOptions,
  handlers: SecureListenerHandlers,
): Promise<SecureListener> {
  const handshaking = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    handshaking.add(socket);
    socket.on('error', () => undefined);
    acceptSecure(socket, options).then(
      (conn) => {
        handshaking.delete(socket);
        handlers.onConnection(conn);
      },
      (err: Error) => {
        handshaking.delete(socket);
        handlers.onHandshakeError?.(err, remote);
      },
    );
  });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new PheromonesError(
          err.code === 'EADDRINUSE' ? 'already-exists' : 'unavailable',
          `cannot listen on ${host}:${port}: ${err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      const realPort = typeof addr === 'object' && addr !== null ? addr.port : port;
      resolve({
        host,
        port: realPort,
        close: () =>
          new Promise<void>((res) => {
            for (const s of handshaking) s.destroy();
            handshaking.clear();
            server.close(() => res());
          }),
      });
    });
  });
}
