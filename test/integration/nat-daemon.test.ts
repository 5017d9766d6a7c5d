/**
 * NAT traversal through real `pheromones-node` processes and the real
 * `pheromones` CLI, against fake gateways the test serves on 127.0.0.1 and
 * names with --nat-gateway (nothing is multicast): the mapping asked for,
 * `node info --json`, renewal, the delete on SIGTERM, a peer learning the
 * advertised external address, and a node that keeps running without a
 * gateway.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DaemonSet, freePort, pollUntil, REPO_ROOT, type Daemon } from '../helpers/daemon.js';
import { rpcOf } from '../helpers/api.js';
import { FakePmpGateway, FakeUpnpGateway } from '../helpers/fake-nat-gateway.js';

const CLI_BIN = join(REPO_ROOT, 'bin', 'run.js');
const exec = promisify(execFile);
const WAIT_MS = 20_000;

async function cli(d: Daemon, args: string[]): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PHEROMONES_')));
  const { stdout } = await exec(process.execPath, [CLI_BIN, ...args, '--rpc', await rpcOf(d), '--data-dir', d.dataDir], { cwd: REPO_ROOT, env, timeout: 30_000 });
  return stdout;
}

interface InfoJson {
  nodeId: string;
  observedAddresses: string[];
  advertisedAddresses: string[];
  nat?: { mode: string; protocol: string; gateway: string; externalAddress: string; externalPort: number; internalPort: number; expiresAtMs: string; error: string };
}

const info = async (d: Daemon): Promise<InfoJson> => JSON.parse(await cli(d, ['node', 'info', '--json'])) as InfoJson;

describe('NAT traversal with real daemons', () => {
  const net = new DaemonSet();
  const gateways: { close(): Promise<void> }[] = [];
  after(async () => {
    await net.cleanup();
    for (const g of gateways) await g.close();
  });

  it('NAT-PMP: maps the listen port, shows and advertises the external address, renews, and deletes on SIGTERM', async () => {
    const externalPort = await freePort();
    const gw = await FakePmpGateway.start({ grantPort: externalPort, maxLifetimeS: 2 });
    gateways.push(gw);
    const a = await net.start({ name: 'a', args: ['--no-stdin', '--nat', 'pmp', '--nat-gateway', gw.address] });
    const external = `127.0.0.1:${externalPort}`;

    await gw.waitFor((r) => r.internalPort === a.port && r.lifetimeS === 7200, WAIT_MS, 'the mapping request for the listen port');
    const mapped = await pollUntil(async () => {
      const i = await info(a);
      return i.nat?.externalAddress === external ? i : undefined;
    }, WAIT_MS, 'node info with the external address');
    assert.equal(mapped.nat?.protocol, 'nat-pmp');
    assert.equal(mapped.nat?.gateway, gw.address);
    assert.equal(mapped.nat?.internalPort, a.port);
    assert.equal(mapped.nat?.error, '');
    assert.ok(Number(mapped.nat?.expiresAtMs) > Date.now() - 60_000, 'an expiry is reported');
    assert.deepEqual(mapped.advertisedAddresses, [external]);

    // Granted 2 s: renewed after about 1 s.
    await gw.waitFor((r, i) => i >= 1 && r.internalPort === a.port && r.lifetimeS > 0, WAIT_MS, 'a renewal');

    // A peer learns the external address from a's PeerList, under a's id; a sees the address b observes.
    const b = await net.start({ name: 'b', args: ['--no-stdin'], peers: [a.address] });
    await b.waitForPeers([a.nodeId], WAIT_MS);
    await pollUntil(async () => {
      const known = JSON.parse(await cli(b, ['peers', 'known', '--json'])) as { peers: { address: string; nodeId: string }[] };
      return known.peers.some((p) => p.address === external && p.nodeId === a.nodeId);
    }, WAIT_MS, "b's peer store holding a's external address");
    const both = await pollUntil(async () => {
      const i = await info(a);
      return i.observedAddresses.length > 0 ? i : undefined;
    }, WAIT_MS, "a's observed address");
    assert.deepEqual(both.observedAddresses, [a.address]);
    assert.equal(both.nat?.externalAddress, external);
    const human = await cli(a, ['node', 'info']);
    assert.match(human, new RegExp(`NAT mapping +${external} -> ${a.port} \\(nat-pmp via ${gw.address}, until `));

    await a.stopCleanly();
    await gw.waitFor((r) => r.internalPort === a.port && r.lifetimeS === 0 && r.externalPort === 0, WAIT_MS, 'the delete on SIGTERM');
    assert.ok(a.logs.some((r) => r.msg === 'NAT port mapping removed'));
  });

  it('UPnP: AddPortMapping for this machine with the lifetime asked, renewal, and DeletePortMapping on SIGTERM', async () => {
    const gw = await FakeUpnpGateway.start();
    gateways.push(gw);
    const a = await net.start({ name: 'u', args: ['--no-stdin', '--nat', 'upnp', '--nat-gateway', gw.descriptionUrl, '--nat-lifetime', '2'] });
    const add = await gw.waitFor('AddPortMapping', (c) => c.args.NewInternalPort === String(a.port), WAIT_MS, 'AddPortMapping');
    assert.equal(add.args.NewInternalClient, '127.0.0.1');
    assert.equal(add.args.NewProtocol, 'TCP');
    assert.equal(add.args.NewLeaseDuration, '2');
    const i = await pollUntil(async () => {
      const x = await info(a);
      return x.nat?.protocol === 'upnp' ? x : undefined;
    }, WAIT_MS, 'node info with the UPnP mapping');
    assert.equal(i.nat?.externalAddress, `127.0.0.1:${add.args.NewExternalPort}`);
    assert.equal(i.nat?.gateway, gw.descriptionUrl);
    await gw.waitFor('AddPortMapping', (_c, n) => n >= 1, WAIT_MS, 'a renewal');
    await a.stopCleanly();
    const del = await gw.waitFor('DeletePortMapping', () => true, WAIT_MS, 'DeletePortMapping on SIGTERM');
    assert.equal(del.args.NewExternalPort, add.args.NewExternalPort);
  });

  it('a gateway that does not answer is logged and reported; the node serves on', async () => {
    const dead = await FakePmpGateway.start();
    const deadAddress = dead.address;
    await dead.close();
    const a = await net.start({ name: 'n', args: ['--no-stdin', '--nat', 'pmp', '--nat-gateway', deadAddress] });
    const warn = await a.waitForLog((r) => r.msg.startsWith('no NAT port mapping'), WAIT_MS, 'the NAT warning');
    assert.match(warn.msg, /nothing answers on that port/);
    const i = await info(a);
    assert.equal(i.nat?.protocol, '');
    assert.match(i.nat?.error ?? '', /nothing answers/);
    assert.deepEqual(i.advertisedAddresses, []);
    assert.match(await cli(a, ['node', 'info']), /NAT mapping +none \(pmp: nat-pmp: NAT-PMP gateway 127\.0\.0\.1:\d+: nothing answers on that port\)/);
    await a.stopCleanly();
  });
});
