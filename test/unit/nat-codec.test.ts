/**
 * The NAT texts a node writes and reads: NAT-PMP datagrams (RFC 6886),
 * UPnP descriptions, SOAP calls and faults, SSDP answers, the route table,
 * and the --nat flags.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeExternalAddressResponse,
  decodeMapResponse,
  encodeExternalAddressRequest,
  encodeMapRequest,
  responseOpcode,
} from '../../src/nat/pmp-codec.js';
import { parseDescription, parseSsdpAnswer, soapCall, soapFault, soapValue, ssdpSearch } from '../../src/nat/upnp-codec.js';
import { defaultGatewayIn, parseGatewaySpec } from '../../src/nat/gateway.js';
import { parseDaemonArgs, usage } from '../../src/daemon/flags.js';
import { PheromonesError } from '../../src/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const kind = (k: string) => (err: unknown) => err instanceof PheromonesError && err.kind === k;

describe('NAT-PMP codec', () => {
  test('requests are laid out as RFC 6886 says', () => {
    assert.deepEqual(encodeExternalAddressRequest(), hex('0000'));
    // version 0, opcode 2 (TCP), reserved, internal 7000, suggested 7001, lifetime 7200
    assert.deepEqual(encodeMapRequest(7000, 7001, 7200), hex('00 02 0000 1b58 1b59 00001c20'));
    // delete: suggested port and lifetime 0
    assert.deepEqual(encodeMapRequest(7000, 0, 0), hex('00 02 0000 1b58 0000 00000000'));
    assert.throws(() => encodeMapRequest(0, 0, 10), kind('invalid-argument'));
    assert.throws(() => encodeMapRequest(7000, 70000, 10), kind('invalid-argument'));
    assert.throws(() => encodeMapRequest(7000, 0, -1), kind('invalid-argument'));
  });

  test('answers decode, failures become errors naming the result', () => {
    assert.deepEqual(decodeExternalAddressResponse(hex('00 80 0000 0000002a cb007107')), { epoch: 42, address: '203.0.113.7' });
    assert.deepEqual(decodeMapResponse(hex('00 82 0000 0000002a 1b58 2710 00000e10')), {
      epoch: 42,
      internalPort: 7000,
      externalPort: 10000,
      lifetimeS: 3600,
    });
    assert.throws(() => decodeMapResponse(hex('00 82 0002 0000002a')), (err: unknown) => kind('refused')(err) && /result 2 \(not authorized/.test((err as Error).message));
    assert.throws(() => decodeMapResponse(hex('00 80 0000 0000002a cb007107')), kind('protocol-violation'));
    assert.throws(() => decodeMapResponse(hex('00 82 0000 0000002a 1b58')), kind('protocol-violation'));
    assert.throws(() => decodeMapResponse(hex('01 82 0000')), kind('protocol-violation'));
    assert.throws(() => decodeExternalAddressResponse(hex('00')), kind('protocol-violation'));
    assert.equal(responseOpcode(hex('00 82 0000')), 2);
    assert.equal(responseOpcode(hex('00 02')), undefined, 'a request is no answer');
    assert.equal(responseOpcode(hex('')), undefined);
  });
});

describe('UPnP codec', () => {
  const desc = (services: string, base = '') =>
    `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">${base}<device><serviceList>${services}</serviceList></device></root>`;
  const service = (type: string, control: string) => `<service><serviceType>${type}</serviceType><controlURL>${control}</controlURL></service>`;

  test('the description yields the WAN connection service, its control URL made absolute', () => {
    const xml = desc(service('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/l3f') + service('urn:schemas-upnp-org:service:WANIPConnection:1', 'ctl/IPConn'));
    assert.deepEqual(parseDescription(xml, 'http://192.168.1.1:5000/rootDesc.xml'), {
      serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1',
      controlUrl: 'http://192.168.1.1:5000/ctl/IPConn',
    });
    const ppp = desc(service('urn:schemas-upnp-org:service:WANPPPConnection:1', '/ppp'), '<URLBase>http://10.0.0.1:80/</URLBase>');
    assert.equal(parseDescription(ppp, 'http://10.0.0.1:1900/d.xml').controlUrl, 'http://10.0.0.1/ppp');
    assert.throws(() => parseDescription(desc(service('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/l3f')), 'http://h/'), kind('failed-precondition'));
    assert.throws(() => parseDescription(desc(service('urn:schemas-upnp-org:service:WANIPConnection:1', 'ftp://h/x')), 'http://h/'), kind('protocol-violation'));
  });

  test('SOAP calls name the action in SOAPAction and escape their arguments', () => {
    const c = soapCall('urn:schemas-upnp-org:service:WANIPConnection:1', 'AddPortMapping', [
      ['NewExternalPort', 7000],
      ['NewPortMappingDescription', 'a<b&c'],
    ]);
    assert.equal(c.headers.SOAPAction, '"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"');
    assert.match(c.body, /<u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalPort>7000<\/NewExternalPort><NewPortMappingDescription>a&lt;b&amp;c<\/NewPortMappingDescription><\/u:AddPortMapping>/);
  });

  test('answers and faults are read with any namespace prefix', () => {
    assert.equal(soapValue('<s:Body><u:R><NewExternalIPAddress> 198.51.100.4 </NewExternalIPAddress></u:R></s:Body>', 'NewExternalIPAddress'), '198.51.100.4');
    assert.equal(soapValue('<m:NewExternalIPAddress>1.2.3.4</m:NewExternalIPAddress>', 'NewExternalIPAddress'), '1.2.3.4');
    assert.equal(soapValue('<x/>', 'NewExternalIPAddress'), '');
    assert.deepEqual(soapFault('<UPnPError xmlns="urn:x"><errorCode>718</errorCode><errorDescription>Conflict&amp;more</errorDescription></UPnPError>'), {
      code: 718,
      description: 'Conflict&more',
    });
    assert.equal(soapFault('<errorCode>many</errorCode>'), undefined);
  });

  test('SSDP: the search asks for an IGD; an answer gives its http LOCATION', () => {
    assert.match(ssdpSearch(2).toString(), /^M-SEARCH \* HTTP\/1\.1\r\nHOST: 239\.255\.255\.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n$/);
    assert.equal(parseSsdpAnswer(Buffer.from('HTTP/1.1 200 OK\r\nST: x\r\nLocation: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n')), 'http://192.168.1.1:5000/rootDesc.xml');
    assert.equal(parseSsdpAnswer(Buffer.from('HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n')), undefined);
    assert.equal(parseSsdpAnswer(Buffer.from('NOTIFY * HTTP/1.1\r\nLOCATION: http://h/\r\n\r\n')), undefined);
  });
});

describe('NAT gateway and flags', () => {
  test('the default gateway is read from the route table', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    ].join('\n');
    assert.equal(defaultGatewayIn(table), '192.168.1.1');
    assert.equal(defaultGatewayIn(table.split('\n').slice(0, 2).join('\n')), undefined);
  });

  test('--nat-gateway takes ip[:port] or an http URL', () => {
    assert.deepEqual(parseGatewaySpec('192.168.1.1'), { kind: 'host', host: '192.168.1.1', port: 5351 });
    assert.deepEqual(parseGatewaySpec('127.0.0.1:40000'), { kind: 'host', host: '127.0.0.1', port: 40000 });
    assert.deepEqual(parseGatewaySpec('http://192.168.1.1:5000/rootDesc.xml'), { kind: 'url', url: 'http://192.168.1.1:5000/rootDesc.xml', host: '192.168.1.1' });
    for (const bad of ['router.local', '1.2.3', '1.2.3.4:0', 'https://1.2.3.4/', '[::1]:5351']) assert.throws(() => parseGatewaySpec(bad), kind('invalid-argument'), bad);
  });

  test('--nat is none by default; bad values are usage errors', () => {
    const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const p = parseDaemonArgs(argv, env);
      assert.equal(p.command, 'run');
      return p.command === 'run' ? p.options.nat : undefined;
    };
    assert.deepEqual(run([]), { mode: 'none', lifetimeS: 7200 });
    assert.deepEqual(run(['--nat', 'pmp', '--nat-gateway', '127.0.0.1:5555', '--nat-lifetime', '60']), { mode: 'pmp', gateway: '127.0.0.1:5555', lifetimeS: 60 });
    assert.deepEqual(run([], { PHEROMONES_NAT: 'UPNP', PHEROMONES_NAT_GATEWAY: 'http://10.0.0.1/d.xml' }), { mode: 'upnp', gateway: 'http://10.0.0.1/d.xml', lifetimeS: 7200 });
    assert.throws(() => run(['--nat', 'yes']), /--nat: "yes" is not one of none, auto, upnp, pmp/);
    assert.throws(() => run(['--nat-gateway', '127.0.0.1']), /--nat-gateway needs --nat/);
    assert.throws(() => run(['--nat', 'pmp', '--nat-gateway', 'gw.local']), /--nat-gateway: "gw.local" is neither/);
    assert.throws(() => run(['--nat', 'pmp', '--nat-lifetime', '0']), /--nat-lifetime: 0 is out of range/);
    const help = usage('0.0.0');
    for (const flag of ['--nat <mode>', '--nat-gateway <gateway>', '--nat-lifetime <s>']) assert.ok(help.includes(flag), flag);
  });
});
