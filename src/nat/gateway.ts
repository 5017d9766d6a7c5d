import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { PheromonesError } from '../errors.js';
import { PMP_PORT } from './pmp-codec.js';

/** Flag of a route through a gateway (linux/route.h RTF_GATEWAY). */
const RTF_GATEWAY = 0x2;

/**
 * The IPv4 default gateway in the text of /proc/net/route (Linux), or
 * undefined. Addresses there are hex in host byte order (little-endian).
 */
export function defaultGatewayIn(routeTable: string): string | undefined {
  for (const line of routeTable.split('\n').slice(1)) {
    const [, destination, gateway, flags] = line.trim().split(/\s+/);
    if (destination !== '00000000' || gateway === undefined || flags === undefined) continue;
    if ((parseInt(flags, 16) & RTF_GATEWAY) === 0 || !/^[0-9a-fA-F]{8}$/.test(gateway)) continue;
    const n = parseInt(gateway, 16);
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
  }
  return undefined;
}

/** This machine's IPv4 default gateway; throws 'not-found' where it cannot be read (give --nat-gateway there). */
export function defaultGateway(): string {
  let table: string;
  try {
    table = readFileSync('/proc/net/route', 'utf8');
  } catch {
    throw new PheromonesError('not-found', 'cannot read the default gateway on this system (no /proc/net/route); give it with --nat-gateway');
  }
  const gw = defaultGatewayIn(table);
  if (gw === undefined) throw new PheromonesError('not-found', 'this machine has no IPv4 default gateway; give one with --nat-gateway');
  return gw;
}

/** --nat-gateway as given: a UPnP description URL, or a NAT-PMP gateway "ip[:port]". */
export type GatewaySpec = { kind: 'url'; url: string; host: string } | { kind: 'host'; host: string; port: number };

/** Parse --nat-gateway; throws 'invalid-argument' with what is wrong. */
export function parseGatewaySpec(text: string): GatewaySpec {
  const t = text.trim();
  if (/^https?:\/\//i.test(t)) {
    let url: URL;
    try {
      url = new URL(t);
    } catch {
      throw new PheromonesError('invalid-argument', `"${t}" is not a URL`);
    }
    if (url.protocol !== 'http:') throw new PheromonesError('invalid-argument', `"${t}": UPnP gateways speak plain http`);
    return { kind: 'url', url: url.href, host: url.hostname };
  }
  const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(t);
  if (m === null || isIP(m[1]!) !== 4) {
    throw new PheromonesError('invalid-argument', `"${t}" is neither an IPv4 address[:port] (NAT-PMP) nor an http:// URL (UPnP description)`);
  }
  const port = m[2] === undefined ? PMP_PORT : Number(m[2]);
  if (port < 1 || port > 65535) throw new PheromonesError('invalid-argument', `"${t}": port ${port} is out of range (1-65535)`);
  return { kind: 'host', host: m[1]!, port };
}
