import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { PheromonesError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Strip the IPv4-mapped prefix and name localhost, so one host has one spelling. */
export function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.startsWith('::ffff:') && isIP(h.slice(7)) === 4) h = h.slice(7);
  if (h === 'localhost') h = '127.0.0.1';
  return h;
}

export function formatAddress(host: string, port: number): string {
  const h = normaliseHost(host);
  return isIP(h) === 6 ? `[${h}]:${port}` : `${h}:${port}`;
}

/** Parse "host:port" or "[v6]:port"; rejects 'invalid-argument' with what is wrong. */
export function parseAddress(address: string): HostPort {
  const text = address.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) {
    throw new PheromonesError('invalid-argument', `"${address}" is not a host:port address (IPv6 as [addr]:port)`);
  }
  const port = Number(m[3]);
  if (port < 1 || port > 65535) {
    throw new PheromonesError('invalid-argument', `"${address}": port must be between 1 and 65535`);
  }
  const host = normaliseHost(m[1] ?? m[2] ?? '');
  if (m[1] !== undefined && isIP(host) !== 6) {
    throw new PheromonesError('invalid-argument', `"${address}": "${m[1]}" is not an IPv6 address`);
  }
  return { host, port };
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * The hosts under which this machine reaches a listener bound to
 * `listenHost`: the host itself, loopback and, for a wildcard bind, every
 * local interface address.
 */
export function ownHosts(listenHost: string): Set<string> {
  const hosts = new Set<string>(['127.0.0.1', '::1', '0.0.0.0', '::', normaliseHost(listenHost)]);
  if (WILDCARDS.has(normaliseHost(listenHost))) {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) hosts.add(normaliseHost(a.address));
    }
  }
  return hosts;
}
