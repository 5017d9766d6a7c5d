import { createSocket } from 'node:dgram';
import { PheromonesError } from '../errors.js';
import { parseSsdpAnswer, SSDP_ADDRESS, SSDP_PORT, ssdpSearch } from './upnp-codec.js';

/** Seconds a device may wait before answering (MX), and how long we listen after the search. */
const MX_S = 2;
const LISTEN_MS = 3_000;

/**
 * Find an Internet Gateway Device by an SSDP search on the local network
 * (multicast). Only used when no gateway is given: with --nat-gateway nothing
 * is multicast. With `onlyHost`, answers from other hosts are ignored.
 */
export function ssdpDiscover(signal: AbortSignal, onlyHost?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(
      () => done(new PheromonesError('not-found', `no UPnP gateway answered an SSDP search within ${LISTEN_MS} ms${onlyHost ? ` (from ${onlyHost})` : ''}`)),
      LISTEN_MS,
    );
    const onAbort = (): void => done(new PheromonesError('unavailable', 'SSDP search cancelled'));
    const done = (err: Error | undefined, location?: string): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (err !== undefined) reject(err);
      else resolve(location!);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    socket.on('error', (err) => done(new PheromonesError('unavailable', `SSDP search failed: ${err.message}`)));
    socket.on('message', (msg, rinfo) => {
      if (onlyHost !== undefined && rinfo.address !== onlyHost) return;
      const location = parseSsdpAnswer(msg.subarray(0, 4096));
      if (location !== undefined) done(undefined, location);
    });
    socket.bind(0, () => socket.send(ssdpSearch(MX_S), SSDP_PORT, SSDP_ADDRESS));
  });
}
