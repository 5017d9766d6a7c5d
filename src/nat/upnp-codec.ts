import { PheromonesError } from '../errors.js';

/**
 * UPnP Internet Gateway Device texts: the SSDP search and its answers, the
 * device description (to find the WAN connection service's control URL) and
 * the SOAP calls a node makes (GetExternalIPAddress, AddPortMapping,
 * DeletePortMapping). Gateways answer loosely formed XML, so elements are
 * found by name with any namespace prefix rather than by a full parser.
 */

export const SSDP_ADDRESS = '239.255.255.250';
export const SSDP_PORT = 1900;
const IGD_DEVICE = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';

/** Services that take AddPortMapping, preferred first. */
const WAN_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
];

/** UPnP error codes a node reacts to (UPnP IGD WANIPConnection:2, section 2.4). */
export const UPNP_ERRORS = {
  conflictInMappingEntry: 718,
  onlyPermanentLeasesSupported: 725,
} as const;

/** An M-SEARCH for gateways; `host` is the multicast group, or the one device a unicast search goes to (UDA 1.1). */
export function ssdpSearch(mxSeconds: number, host = SSDP_ADDRESS): Buffer {
  return Buffer.from(
    ['M-SEARCH * HTTP/1.1', `HOST: ${host}:${SSDP_PORT}`, 'MAN: "ssdp:discover"', `MX: ${mxSeconds}`, `ST: ${IGD_DEVICE}`, '', ''].join('\r\n'),
  );
}

/** The LOCATION of an SSDP answer (an http URL), or undefined when the datagram is not one. */
export function parseSsdpAnswer(datagram: Buffer): string | undefined {
  const lines = datagram.toString('latin1').split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return undefined;
  for (const line of lines.slice(1)) {
    const m = /^location\s*:\s*(\S+)\s*$/i.exec(line);
    if (m) return /^http:\/\//i.test(m[1]!) ? m[1] : undefined;
  }
  return undefined;
}

export interface WanService {
  serviceType: string;
  /** Absolute control URL. */
  controlUrl: string;
}

/** The WAN connection service of a device description fetched from `descriptionUrl`. */
export function parseDescription(xml: string, descriptionUrl: string): WanService {
  const base = textOf(xml, 'URLBase') || descriptionUrl;
  const services = [...xml.matchAll(/<(?:\w+:)?service>([\s\S]*?)<\/(?:\w+:)?service>/g)].map((m) => ({
    serviceType: textOf(m[1]!, 'serviceType'),
    controlUrl: textOf(m[1]!, 'controlURL'),
  }));
  for (const type of WAN_SERVICES) {
    const s = services.find((x) => x.serviceType === type && x.controlUrl !== '');
    if (s === undefined) continue;
    let url: URL;
    try {
      url = new URL(s.controlUrl, base);
    } catch {
      throw new PheromonesError('protocol-violation', `UPnP description at ${descriptionUrl}: control URL "${s.controlUrl}" is not a URL`);
    }
    if (url.protocol !== 'http:') throw new PheromonesError('protocol-violation', `UPnP description at ${descriptionUrl}: control URL ${url.href} is not http`);
    return { serviceType: type, controlUrl: url.href };
  }
  throw new PheromonesError('failed-precondition', `UPnP device at ${descriptionUrl} has no WANIPConnection or WANPPPConnection service`);
}

export interface SoapCall {
  headers: Record<string, string>;
  body: string;
}

/** A SOAP action call with its arguments in order (the schema orders them). */
export function soapCall(serviceType: string, action: string, args: [string, string | number][]): SoapCall {
  const argXml = args.map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`).join('');
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${argXml}</u:${action}></s:Body></s:Envelope>`;
  return { headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: `"${serviceType}#${action}"` }, body };
}

/** Named values of a SOAP response body (NewExternalIPAddress...). */
export function soapValue(xml: string, name: string): string {
  return textOf(xml, name);
}

/** The UPnPError of a SOAP fault, or undefined when the body carries none. */
export function soapFault(xml: string): { code: number; description: string } | undefined {
  const code = textOf(xml, 'errorCode');
  if (!/^\d{1,4}$/.test(code)) return undefined;
  return { code: Number(code), description: textOf(xml, 'errorDescription') };
}

/** Text of the first element named `name` (any namespace prefix), entities decoded; '' when absent. */
function textOf(xml: string, name: string): string {
  const m = new RegExp(`<(?:\\w+:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:\\w+:)?${name}>`).exec(xml);
  return m === null ? '' : unescapeXml(m[1]!.trim());
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_m, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);
}
