import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Rewrites one chunk of bytes passing through a relay. */
export type Hook = (chunk: Buffer) => Buffer;

export interface Relay {
  port: number;
  server: Server;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort`, with optional byte rewriting in
 * each direction: the path between two nodes, for tests of what a router or
 * a man in the middle can do to it.
 */
export async function relay(targetPort: number, c2s: Hook = (b) => b, s2c: Hook = (b) => b): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => upstream.write(c2s(d)));
    upstream.on('data', (d: Buffer) => client.write(s2c(d)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
