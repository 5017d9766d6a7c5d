import type { Logger } from 'pino';
import { formatAddress } from '../peer/address.js';
import { defaultGateway, parseGatewaySpec, type GatewaySpec } from './gateway.js';
import { PMP_PORT } from './pmp-codec.js';
import { PmpClient } from './pmp-client.js';
import { ssdpDiscover } from './ssdp.js';
import type { GrantedMapping, NatClient } from './types.js';
import { UpnpClient } from './upnp-client.js';
import { waitAtMost } from '../wait.js';

export const NAT_MODES = ['none', 'auto', 'upnp', 'pmp'] as const;
export type NatMode = (typeof NAT_MODES)[number];

export interface NatConfig {
  /** 'auto' tries NAT-PMP, then UPnP. */
  mode: NatMode;
  /** --nat-gateway: "ip[:port]" (NAT-PMP) or a UPnP description URL; found on the local network when absent. */
  gateway?: string;
  /** Mapping lifetime asked for, seconds. */
  lifetimeS: number;
}

export const DEFAULT_NAT_LIFETIME_S = 7200;

/** What node info reports (NodeInfo.nat). */
export interface NatStatus {
  mode: NatMode;
  /** "nat-pmp" or "upnp" once a gateway granted a mapping; '' before. */
  protocol: string;
  gateway: string;
  /** host:port peers can dial, '' without a mapping (or when the gateway reported no external IP). */
  externalAddress: string;
  externalPort: number;
  internalPort: number;
  /** When the mapping lapses unless renewed; 0 for none or a permanent one. */
  expiresAtMs: number;
  /** The last failure, '' once a mapping succeeded. */
  error: string;
}

/** The first retry after a failed mapping; doubles up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 30_000;
const RETRY_MAX_MS = 30 * 60_000;
/** Never renew more often than this, whatever lifetime the gateway grants. */
const MIN_RENEW_MS = 500;
/**
 * How long stop() waits for a request in flight, then for the delete: both
 * well inside the daemon's 5 s shutdown deadline.
 */
const STOP_IN_FLIGHT_MS = 1_000;
const STOP_DELETE_MS = 2_000;

interface Active {
  client: NatClient;
  granted: GrantedMapping;
  expiresAtMs: number;
}

/**
 * Keeps a TCP port mapping on the NAT gateway for the node's listen port:
 * maps it after listen, renews it at half its lifetime, deletes it on stop.
 * Every failure is logged and retried later; none stops the node.
 */
export class PortMapper {
  private internalPort = 0;
  private active: Active | undefined;
  private lastError = '';
  private timer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  private inFlight: Promise<void> | undefined;
  private abort = new AbortController();
  private stopped = false;
  private readonly candidates: (() => NatClient)[];

  constructor(
    private readonly config: NatConfig,
    private readonly log: Logger,
    /** For tests: the clients to try instead of the ones the config names. */
    candidates?: (() => NatClient)[],
  ) {
    this.candidates = candidates ?? clientsFor(config);
  }

  /** Begin mapping `internalPort` in the background. */
  start(internalPort: number): void {
    if (this.config.mode === 'none' || this.stopped) return;
    this.internalPort = internalPort;
    this.schedule(0);
  }

  /** host:port of the mapping, '' without one. */
  externalAddress(): string {
    const g = this.active?.granted;
    return g === undefined || g.externalHost === '' ? '' : formatAddress(g.externalHost, g.externalPort);
  }

  status(): NatStatus {
    const a = this.active;
    return {
      mode: this.config.mode,
      protocol: a?.client.protocol ?? '',
      gateway: a?.client.gateway ?? this.config.gateway ?? '',
      externalAddress: this.externalAddress(),
      externalPort: a?.granted.externalPort ?? 0,
      internalPort: this.internalPort,
      expiresAtMs: a === undefined || a.granted.lifetimeS === 0 ? 0 : a.expiresAtMs,
      error: this.lastError,
    };
  }

  /** Stop renewing and delete the mapping (bounded: shutdown does not wait on a silent gateway). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.inFlight !== undefined) {
      await waitAtMost(this.inFlight, STOP_IN_FLIGHT_MS);
      this.abort.abort();
    }
    const a = this.active;
    if (a === undefined) return;
    this.active = undefined;
    try {
      await a.client.unmap(this.internalPort, a.granted.externalPort, AbortSignal.timeout(STOP_DELETE_MS));
      this.log.info({ protocol: a.client.protocol, gateway: a.client.gateway, externalPort: a.granted.externalPort }, 'NAT port mapping removed');
    } catch (err) {
      this.log.warn(
        { protocol: a.client.protocol, gateway: a.client.gateway, err: (err as Error).message },
        `NAT port mapping not removed (it lapses by itself${a.granted.lifetimeS > 0 ? ` within ${a.granted.lifetimeS} s` : ''}): ${(err as Error).message}`,
      );
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.inFlight = this.attempt().finally(() => (this.inFlight = undefined));
    }, delayMs);
    this.timer.unref();
  }

  /** Map or renew: with the client that granted the mapping while it holds, else each candidate in turn. */
  private async attempt(): Promise<void> {
    const previous = this.active;
    const now = Date.now();
    const holding = previous !== undefined && (previous.granted.lifetimeS === 0 || previous.expiresAtMs > now);
    const errors: string[] = [];
    const tries: (() => NatClient)[] = holding ? [() => previous.client] : this.candidates;
    for (const make of tries) {
      if (this.stopped) return;
      let client: NatClient;
      try {
        client = make();
      } catch (err) {
        errors.push((err as Error).message);
        continue;
      }
      try {
        const wanted = previous?.client === client ? previous.granted.externalPort : this.internalPort;
        const granted = await client.map(this.internalPort, wanted, this.config.lifetimeS, this.abort.signal);
        if (this.stopped) {
          // Granted while stopping: stop() deletes what `active` holds.
          this.active = { client, granted, expiresAtMs: Date.now() + granted.lifetimeS * 1000 };
          return;
        }
        this.granted(client, granted, previous);
        return;
      } catch (err) {
        errors.push(`${client.protocol}: ${(err as Error).message}`);
      }
    }
    if (this.stopped) return;
    this.failed(errors.join('; ') || 'no port-mapping protocol to try', holding ? previous : undefined);
  }

  private granted(client: NatClient, granted: GrantedMapping, previous: Active | undefined): void {
    this.active = { client, granted, expiresAtMs: Date.now() + granted.lifetimeS * 1000 };
    this.lastError = '';
    this.retryMs = RETRY_FIRST_MS;
    const fields = {
      protocol: client.protocol,
      gateway: client.gateway,
      internalPort: this.internalPort,
      externalAddress: this.externalAddress(),
      externalPort: granted.externalPort,
      lifetimeS: granted.lifetimeS,
    };
    const same = previous !== undefined && previous.client === client && previous.granted.externalPort === granted.externalPort && previous.granted.externalHost === granted.externalHost;
    if (same) this.log.debug(fields, 'NAT port mapping renewed');
    else {
      this.log.info(fields, `NAT port mapping: ${this.externalAddress() || `external port ${granted.externalPort}`} -> port ${this.internalPort} (${client.protocol} via ${client.gateway})`);
      if (granted.externalHost === '') this.log.warn(fields, 'the NAT gateway reported no external address; the mapping is not advertised');
    }
    // RFC 6886 3.3: renew at half the lifetime. A permanent UPnP lease needs no renewal.
    if (granted.lifetimeS > 0) this.schedule(Math.max(MIN_RENEW_MS, (granted.lifetimeS * 1000) / 2));
  }

  private failed(reason: string, holding: Active | undefined): void {
    this.lastError = reason;
    let delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    if (holding !== undefined && holding.granted.lifetimeS > 0) {
      // Try again before the mapping lapses; after it, look for any gateway again.
      delay = Math.min(delay, Math.max(MIN_RENEW_MS, (holding.expiresAtMs - Date.now()) / 2));
      this.log.warn({ reason, retryMs: delay }, `NAT port mapping not renewed (still valid until ${new Date(holding.expiresAtMs).toISOString()}): ${reason}`);
    } else {
      if (this.active !== undefined) this.log.warn({ externalAddress: this.externalAddress() }, 'NAT port mapping lapsed; no longer advertised');
      this.active = undefined;
      this.log.warn({ reason, retryMs: delay }, `no NAT port mapping (the node runs on without one; retrying in ${Math.round(delay / 1000)} s): ${reason}`);
    }
    this.schedule(delay);
  }
}

/** The clients --nat and --nat-gateway name, in the order tried. Made lazily: finding a gateway may fail. */
export function clientsFor(config: NatConfig): (() => NatClient)[] {
  const spec: GatewaySpec | undefined = config.gateway === undefined ? undefined : parseGatewaySpec(config.gateway);
  const pmp = (): NatClient => {
    if (spec?.kind === 'host') return new PmpClient(spec.host, spec.port);
    // A gateway given by its UPnP URL is asked for NAT-PMP at the same host.
    return new PmpClient(spec?.kind === 'url' ? spec.host : defaultGateway(), PMP_PORT);
  };
  let upnpClient: UpnpClient | undefined;
  const upnp = (): NatClient => {
    // One client, so its description (found once) is kept across retries.
    upnpClient ??= new UpnpClient(spec?.kind === 'url' ? async () => spec.url : (signal) => ssdpDiscover(signal, spec?.host));
    return upnpClient;
  };
  switch (config.mode) {
    case 'none':
      return [];
    case 'pmp':
      return [pmp];
    case 'upnp':
      return [upnp];
    case 'auto':
      return [pmp, upnp];
  }
}

