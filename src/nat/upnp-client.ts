import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { PheromonesError } from '../errors.js';
import { normaliseHost } from '../peer/address.js';
import { httpExchange } from './http.js';
import type { GrantedMapping, NatClient } from './types.js';
import { parseDescription, soapCall, soapFault, soapValue, UPNP_ERRORS, type WanService } from './upnp-codec.js';

const HTTP_TIMEOUT_MS = 5_000;
/** Descriptions of real gateways are a few KiB; SOAP answers less than one. */
const MAX_DESCRIPTION_BYTES = 256 * 1024;
const MAX_SOAP_BYTES = 16 * 1024;
/** External ports tried when the one asked for is taken (error 718). */
const CONFLICT_TRIES = 3;
const DESCRIPTION = 'pheromones';

/**
 * UPnP IGD client for one gateway, known by its device description URL
 * (given, or found by an SSDP search through `locate`).
 */
export class UpnpClient implements NatClient {
  readonly protocol = 'upnp';
  private service: WanService | undefined;
  private location: string | undefined;

  constructor(private readonly locate: (signal: AbortSignal) => Promise<string>) {}

  get gateway(): string {
    return this.location ?? 'UPnP (SSDP)';
  }

  async map(internalPort: number, externalPort: number, lifetimeS: number, signal: AbortSignal): Promise<GrantedMapping> {
    const ip = await this.call('GetExternalIPAddress', [], signal);
    const externalHost = normaliseHost(soapValue(ip.body, 'NewExternalIPAddress'));
    if (externalHost !== '' && isIP(externalHost) === 0) {
      throw new PheromonesError('protocol-violation', `UPnP gateway ${this.gateway} reported external address "${externalHost}", not an IP`);
    }
    // The address this machine has on the connection to the gateway is the one it forwards to.
    const internalClient = ip.localAddress.replace(/^::ffff:/, '');
    let port = externalPort === 0 ? internalPort : externalPort;
    let lease = lifetimeS;
    for (let tries = 0; ; ) {
      const args: [string, string | number][] = [
        ['NewRemoteHost', ''],
        ['NewExternalPort', port],
        ['NewProtocol', 'TCP'],
        ['NewInternalPort', internalPort],
        ['NewInternalClient', internalClient],
        ['NewEnabled', 1],
        ['NewPortMappingDescription', DESCRIPTION],
        ['NewLeaseDuration', lease],
      ];
      try {
        await this.call('AddPortMapping', args, signal);
        return { externalHost: externalHost === '0.0.0.0' ? '' : externalHost, externalPort: port, lifetimeS: lease };
      } catch (err) {
        const code = err instanceof UpnpFault ? err.code : 0;
        if (code === UPNP_ERRORS.onlyPermanentLeasesSupported && lease !== 0) {
          lease = 0;
          continue;
        }
        if (code === UPNP_ERRORS.conflictInMappingEntry && ++tries < CONFLICT_TRIES) {
          port = randomInt(1024, 65536);
          continue;
        }
        throw err;
      }
    }
  }

  async unmap(_internalPort: number, externalPort: number, signal: AbortSignal): Promise<void> {
    await this.call('DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', 'TCP']], signal);
  }

  private async wanService(signal: AbortSignal): Promise<WanService> {
    if (this.service !== undefined) return this.service;
    const location = await this.locate(signal);
    this.location = location;
    const answer = await httpExchange(location, { method: 'GET', timeoutMs: HTTP_TIMEOUT_MS, maxBytes: MAX_DESCRIPTION_BYTES, signal });
    if (answer.status !== 200) throw new PheromonesError('unavailable', `UPnP description ${location} answered HTTP ${answer.status}`);
    this.service = parseDescription(answer.body, location);
    return this.service;
  }

  private async call(action: string, args: [string, string | number][], signal: AbortSignal): Promise<{ body: string; localAddress: string }> {
    const service = await this.wanService(signal);
    const { headers, body } = soapCall(service.serviceType, action, args);
    const answer = await httpExchange(service.controlUrl, { method: 'POST', headers, body, timeoutMs: HTTP_TIMEOUT_MS, maxBytes: MAX_SOAP_BYTES, signal });
    if (answer.status === 200) return answer;
    const fault = soapFault(answer.body);
    if (fault !== undefined) throw new UpnpFault(action, this.gateway, fault.code, fault.description);
    throw new PheromonesError('unavailable', `UPnP ${action} at ${service.controlUrl} answered HTTP ${answer.status}`);
  }
}

/** A UPnPError answer (HTTP 500 with a SOAP fault). */
export class UpnpFault extends PheromonesError {
  constructor(
    action: string,
    gateway: string,
    readonly code: number,
    description: string,
  ) {
    super('refused', `UPnP gateway ${gateway} refused ${action}: error ${code}${description ? ` (${description})` : ''}`);
  }
}
