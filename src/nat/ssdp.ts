import { PheromonesError } from '../errors.js';
import { udpExchange } from './udp.js';
import { parseSsdpAnswer, SSDP_ADDRESS, SSDP_PORT, ssdpSearch } from './upnp-codec.js';

/** Seconds a device may wait before answering (MX), and how long we listen after the search. */
const MX_S = 2;
const LISTEN_MS = 3_000;

/**
 * Find an Internet Gateway Device by an SSDP search: multicast on the local
 * network, or, with `onlyHost` (--nat-gateway ip), sent to that host alone
 * (a unicast search, UDA 1.1) and answered by it alone. Nothing is
 * multicast when a gateway is given.
 */
export function ssdpDiscover(signal: AbortSignal, onlyHost?: string, port = SSDP_PORT): Promise<string> {
  return udpExchange<string>(signal, 'SSDP search cancelled', ({ socket, finish: done, setTimer }) => {
    setTimer(
      setTimeout(
        () => done(new PheromonesError('not-found', `no UPnP gateway answered an SSDP search within ${LISTEN_MS} ms${onlyHost ? ` (from ${onlyHost})` : ''}`)),
        LISTEN_MS,
      ),
    );
    socket.on('error', (err) => done(new PheromonesError('unavailable', `SSDP search failed: ${err.message}`)));
    socket.on('message', (msg, rinfo) => {
      if (onlyHost !== undefined && rinfo.address !== onlyHost) return;
      const location = parseSsdpAnswer(msg.subarray(0, 4096));
      if (location !== undefined) done(undefined, location);
    });
    const to = onlyHost ?? SSDP_ADDRESS;
    socket.bind(0, () => socket.send(ssdpSearch(MX_S, to), port, to));
  });
}
