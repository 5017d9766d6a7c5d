import { isIP } from 'node:net';

/**
 * The network group of a host, for outbound diversity (Bitcoin's /16 rule):
 * IPv4 /16, IPv6 /32, a DNS name is its own group. Loopback is one group,
 * so on a single machine the "network is that small" exception applies.
 */
export function addressGroup(host: string): string {
  const h = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(h) === 4) {
    const [a, b] = h.split('.');
    return `${a}.${b}`;
  }
  if (isIP(h) === 6) {
    const parts = h.split(':');
    return `${parts[0] ?? ''}:${parts[1] ?? ''}`;
  }
  return h;
}

/** Host of a "host:port" / "[v6]:port" string. */
export function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  const host = i < 0 ? address : address.slice(0, i);
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** Most outbound peers in one group while candidates from other groups exist. */
export const MAX_PER_GROUP = 2;
