/**
 * Control-plane authentication: a random cookie written into the data dir at
 * each start (like bitcoind's .cookie), sent by clients as
 * `authorization: Bearer <token>`. Checked by a server interceptor, before any
 * handler runs, for every service (reflection included) except health.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  ServerInterceptingCall,
  status,
  type Metadata,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { PheromonesError } from '../errors.js';

/** The cookie's file name inside the node's data dir. */
export const COOKIE_FILE = 'api.cookie';

export function cookiePath(dataDir: string): string {
  return path.join(dataDir, COOKIE_FILE);
}

/** Write a fresh token (32 random bytes, hex) to `<dataDir>/api.cookie`, mode 0600, atomically. */
export async function writeCookie(dataDir: string): Promise<{ token: string; path: string }> {
  const token = randomBytes(32).toString('hex');
  const target = cookiePath(dataDir);
  const tmp = `${target}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${token}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, target);
  return { token, path: target };
}

export async function removeCookie(dataDir: string): Promise<void> {
  await rm(cookiePath(dataDir), { force: true });
}

/** Read the token from a data dir; rejects 'not-found' with the path it looked at. */
export async function readCookie(dataDir: string): Promise<string> {
  const file = cookiePath(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PheromonesError('not-found', `no cookie at ${file}`);
    throw new PheromonesError('failed-precondition', `cannot read the cookie at ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (!/^[0-9a-f]{64}$/.test(token)) throw new PheromonesError('failed-precondition', `the cookie at ${file} is malformed`);
  return token;
}

/** Paths anyone may call without a token. */
const OPEN_METHODS = new Set(['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/Watch']);

function tokenMatches(metadata: Metadata, expected: Buffer): 'ok' | 'missing' | 'wrong' {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string' || value === '') return 'missing';
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  if (!match) return 'wrong';
  const given = Buffer.from(match[1]!, 'utf8');
  if (given.length !== expected.length) return 'wrong';
  return timingSafeEqual(given, expected) ? 'ok' : 'wrong';
}

/** A grpc-js server interceptor that refuses calls without the right token: UNAUTHENTICATED, no handler run. */
export function authInterceptor(token: string): ServerInterceptor {
  const expected = Buffer.from(token, 'utf8');
  return (method: ServerMethodDefinition<unknown, unknown>, call: ServerInterceptingCallInterface) =>
    new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            if (OPEN_METHODS.has(method.path)) return mdNext(metadata);
            const verdict = tokenMatches(metadata, expected);
            if (verdict === 'ok') return mdNext(metadata);
            call.sendStatus({
              code: status.UNAUTHENTICATED,
              details:
                verdict === 'missing'
                  ? 'missing token: send "authorization: Bearer <token>" with the cookie from the data dir'
                  : 'wrong token',
            });
          },
        });
      },
    });
}
