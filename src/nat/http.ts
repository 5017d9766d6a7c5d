import { request } from 'node:http';
import { PheromonesError } from '../errors.js';

export interface HttpAnswer {
  status: number;
  body: string;
  /** This machine's address on the connection: the "internal client" a gateway maps to. */
  localAddress: string;
}

/**
 * One plain-HTTP exchange with a gateway, bounded in time and size: a
 * gateway's answers are small, and anything else is not read into memory.
 */
export function httpExchange(
  url: string,
  o: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number; maxBytes: number; signal: AbortSignal },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : Buffer.from(o.body);
    const headers: Record<string, string | number> = { ...o.headers, Connection: 'close' };
    if (body !== undefined) headers['Content-Length'] = body.length;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(err);
    };
    const req = request(url, { method: o.method, headers, signal: o.signal, timeout: o.timeoutMs }, (res) => {
      // Read now: the socket is let go once the answer has been read.
      const localAddress = res.socket?.localAddress ?? '';
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > o.maxBytes) fail(new PheromonesError('protocol-violation', `${url} answered more than ${o.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), localAddress });
      });
      res.on('error', (err) => fail(new PheromonesError('unavailable', `${url}: ${err.message}`)));
    });
    req.on('timeout', () => fail(new PheromonesError('timeout', `${url} did not answer within ${o.timeoutMs} ms`)));
    req.on('error', (err) => fail(new PheromonesError('unavailable', `${url}: ${err.message}`)));
    req.end(body);
  });
}
