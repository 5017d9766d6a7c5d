/**
 * The NAT-PMP and UPnP clients and the port mapper's lifecycle against fake
 * gateways on 127.0.0.1 (test/helpers/fake-nat-gateway.ts): what is asked
 * for, what a refusal looks like, renewal, fallback and the delete on stop.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { PheromonesError } from '../../src/errors.js';
import { PmpClient } from '../../src/nat/pmp-client.js';
import { UpnpClient } from '../../src/nat/upnp-client.js';
import { PortMapper } from '../../src/nat/port-mapper.js';
import { ssdpDiscover } from '../../src/nat/ssdp.js';
import { FakePmpGateway, FakeUpnpGateway, type PmpGatewayOptions, type UpnpGatewayOptions } from '../helpers/fake-nat-gateway.js';
import { pollUntil } from '../helpers/daemon.js';

const WAIT_MS = 10_000;
const signal = (): AbortSignal => AbortSignal.timeout(WAIT_MS);
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function pmpGateway(o: PmpGatewayOptions = {}): Promise<FakePmpGateway> {
  const gw = await FakePmpGateway.start(o);
  closers.push(() => gw.close());
  return gw;
}

async function upnpGateway(o: UpnpGatewayOptions = {}): Promise<FakeUpnpGateway> {
  const gw = await FakeUpnpGateway.start(o);
  closers.push(() => gw.close());
  return gw;
}

/** A UDP port on loopback that nobody listens on (bound, then released). */
async function deadUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  const port = s.address().port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** A logger whose records land in an array. */
function capture(): { logger: pino.Logger; records: { level: number; msg: string }[] } {
  const records: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) records.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

describe('NAT-PMP client', () => {
  test('maps with the external address request first, and deletes with lifetime 0', async () => {
    const gw = await pmpGateway({ externalIp: '198.51.100.4', grantPort: 40001, maxLifetimeS: 60 });
    const client = new PmpClient('127.0.0.1', gw.port);
    const granted = await client.map(7000, 7000, 7200, signal());
    assert.deepEqual(granted, { externalHost: '198.51.100.4', externalPort: 40001, lifetimeS: 60 });
    await client.unmap(7000, 40001, signal());
    assert.deepEqual(gw.requests, [
      { opcode: 0, internalPort: 0, externalPort: 0, lifetimeS: 0 },
      { opcode: 2, internalPort: 7000, externalPort: 7000, lifetimeS: 7200 },
      { opcode: 2, internalPort: 7000, externalPort: 0, lifetimeS: 0 },
    ]);
  });

  test('a refusal names the result code; a closed port is "nothing answers"', async () => {
    const gw = await pmpGateway({ failWith: 2 });
    await assert.rejects(new PmpClient('127.0.0.1', gw.port).map(7000, 7000, 60, signal()), (err: unknown) => {
      return err instanceof PheromonesError && err.kind === 'refused' && /NAT-PMP result 2/.test(err.message);
    });
    await assert.rejects(new PmpClient('127.0.0.1', await deadUdpPort()).map(7000, 7000, 60, signal()), /nothing answers on that port/);
  });
});

describe('UPnP client', () => {
  test('reads the description, asks for the external IP, maps to this machine and deletes', async () => {
    const gw = await upnpGateway({ externalIp: '198.51.100.4' });
    const client = new UpnpClient(async () => gw.descriptionUrl);
    const granted = await client.map(7000, 0, 120, signal());
    assert.deepEqual(granted, { externalHost: '198.51.100.4', externalPort: 7000, lifetimeS: 120 });
    assert.equal(client.gateway, gw.descriptionUrl);
    await client.unmap(7000, 7000, signal());
    assert.deepEqual(
      gw.calls.map((c) => c.action),
      ['GetExternalIPAddress', 'AddPortMapping', 'DeletePortMapping'],
    );
    assert.deepEqual(gw.calls[1]!.args, {
      NewRemoteHost: '',
      NewExternalPort: '7000',
      NewProtocol: 'TCP',
      NewInternalPort: '7000',
      NewInternalClient: '127.0.0.1',
      NewEnabled: '1',
      NewPortMappingDescription: 'pheromones',
      NewLeaseDuration: '120',
    });
    assert.deepEqual(gw.calls[2]!.args, { NewRemoteHost: '', NewExternalPort: '7000', NewProtocol: 'TCP' });
  });

  test('a taken port is retried with another; a permanent-only gateway gets lease 0', async () => {
    const taken = await upnpGateway({ conflictPorts: [7000] });
    const g1 = await new UpnpClient(async () => taken.descriptionUrl).map(7000, 0, 120, signal());
    assert.notEqual(g1.externalPort, 7000);
    assert.equal(taken.calls.filter((c) => c.action === 'AddPortMapping').length, 2);

    const permanent = await upnpGateway({ permanentOnly: true });
    const g2 = await new UpnpClient(async () => permanent.descriptionUrl).map(7000, 0, 120, signal());
    assert.equal(g2.lifetimeS, 0);
    assert.deepEqual(
      permanent.calls.filter((c) => c.action === 'AddPortMapping').map((c) => c.args.NewLeaseDuration),
      ['120', '0'],
    );
  });
});

describe('SSDP search', () => {
  test('with a gateway host the search goes to that host alone, and its LOCATION is taken', async () => {
    const device = createSocket('udp4');
    await new Promise<void>((ok) => device.bind(0, '127.0.0.1', ok));
    closers.push(() => new Promise((ok) => device.close(() => ok())));
    const searches: string[] = [];
    device.on('message', (msg, rinfo) => {
      searches.push(msg.toString());
      device.send(`HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://127.0.0.1:1/rootDesc.xml\r\n\r\n`, rinfo.port, rinfo.address);
    });
    assert.equal(await ssdpDiscover(signal(), '127.0.0.1', device.address().port), 'http://127.0.0.1:1/rootDesc.xml');
    assert.equal(searches.length, 1);
    assert.match(searches[0]!, /^M-SEARCH \* HTTP\/1\.1\r\nHOST: 127\.0\.0\.1:1900\r\n/);
  });
});

describe('port mapper', () => {
  test('renews before the granted lifetime runs out and deletes on stop', async () => {
    const gw = await pmpGateway({ maxLifetimeS: 1 });
    const { logger, records } = capture();
    const mapper = new PortMapper({ mode: 'pmp', gateway: gw.address, lifetimeS: 3600 }, logger);
    mapper.start(7100);
    // The first map and at least one renewal (granted 1 s: renewed every 0.5 s).
    await gw.waitFor((r, i) => i >= 1 && r.lifetimeS === 3600 && r.internalPort === 7100, WAIT_MS, 'a renewal');
    const status = mapper.status();
    assert.equal(status.protocol, 'nat-pmp');
    assert.equal(status.externalAddress, '127.0.0.1:7100');
    assert.equal(status.error, '');
    assert.ok(records.some((r) => r.msg === 'NAT port mapping renewed'));
    await mapper.stop();
    assert.deepEqual(gw.maps().at(-1), { opcode: 2, internalPort: 7100, externalPort: 0, lifetimeS: 0 });
    assert.equal(mapper.externalAddress(), '');
    assert.ok(records.some((r) => r.msg === 'NAT port mapping removed'));
  });

  test('auto falls back from NAT-PMP to UPnP', async () => {
    const gw = await upnpGateway();
    const dead = await deadUdpPort();
    const { logger } = capture();
    const mapper = new PortMapper({ mode: 'auto', lifetimeS: 60 }, logger, [() => new PmpClient('127.0.0.1', dead), () => new UpnpClient(async () => gw.descriptionUrl)]);
    mapper.start(7200);
    const status = await pollUntil(() => (mapper.status().protocol !== '' ? mapper.status() : undefined), WAIT_MS, 'a mapping');
    assert.equal(status.protocol, 'upnp');
    assert.equal(status.externalAddress, '127.0.0.1:7200');
    await mapper.stop();
    assert.equal(gw.calls.at(-1)?.action, 'DeletePortMapping');
  });

  test('no gateway: the failure is logged and reported, and stop() is quick', async () => {
    const refusing = await pmpGateway({ failWith: 3 });
    const { logger, records } = capture();
    const mapper = new PortMapper({ mode: 'pmp', gateway: refusing.address, lifetimeS: 60 }, logger);
    mapper.start(7300);
    const warn = await pollUntil(() => records.find((r) => r.level === 40 && r.msg.startsWith('no NAT port mapping')), WAIT_MS, 'the warning');
    assert.match(warn.msg, /node runs on without one.*NAT-PMP result 3 \(network failure/);
    assert.match(mapper.status().error, /result 3/);
    assert.equal(mapper.status().protocol, '');
    await mapper.stop();
    assert.equal(refusing.maps().filter((r) => r.lifetimeS === 0).length, 0, 'nothing to delete');
  });
});
