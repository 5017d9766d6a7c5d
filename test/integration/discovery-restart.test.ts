/**
 * A node needs seeds only once: restarted without --seed, on a new port, it
 * dials what its peer store learnt and reaches its outbound target from the
 * store alone, whether it was stopped cleanly (SIGTERM) or killed (SIGKILL).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DaemonSet, pollUntil, type Daemon } from '../helpers/daemon.js';
import { apiOf, cli, ok } from './chain-harness.js';

const TEST_TIMEOUT_MS = 150_000;
const WAIT_MS = 30_000;
const OUTBOUND = 4;

interface KnownPeerJson {
  address: string;
  nodeId?: string;
  lastSuccessMs?: string;
}

async function known(d: Daemon): Promise<KnownPeerJson[]> {
  const api = await apiOf(d);
  return (JSON.parse(ok(await cli(['peers', 'known', '--json', ...api.flags]), 'peers known')) as { peers?: KnownPeerJson[] }).peers ?? [];
}

async function outboundPeers(d: Daemon): Promise<string[]> {
  const api = await apiOf(d);
  const res = JSON.parse(ok(await cli(['peers', 'list', '--json', ...api.flags]), 'peers list')) as {
    peers?: { nodeId: string; direction: string }[];
  };
  return (res.peers ?? []).filter((p) => p.direction === 'PEER_DIRECTION_OUTBOUND').map((p) => p.nodeId);
}

describe('restart from the peer store', { timeout: TEST_TIMEOUT_MS }, () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('nine nodes from one seed; after SIGTERM and after SIGKILL a node restarted on a new port without --seed refills its outbound slots from its store', async () => {
    const common = ['--no-stdin', '--max-outbound', String(OUTBOUND)];
    const seed = await net.start({ name: 'seed', args: common });
    const nodes: Daemon[] = [];
    for (let i = 0; i < 8; i++) nodes.push(await net.start({ name: `n${i}`, args: [...common, '--seed', seed.address] }));
    const [x, y] = nodes as [Daemon, Daemon];
    const others = nodes.slice(2);

    // x and y each know (by node id, from a dial that succeeded or a peer that told them) at least OUTBOUND of the others.
    for (const d of [x, y]) {
      await pollUntil(
        async () => {
          const k = await known(d);
          return others.filter((o) => k.some((e) => e.address === o.address && e.nodeId === o.nodeId)).length >= OUTBOUND;
        },
        WAIT_MS,
        `${d.name}'s store holds ${OUTBOUND} of the other nodes`,
        250,
      );
    }

    await seed.stop();
    // A clean stop, and a crash: both must leave a store that brings the node back.
    await x.stopCleanly('SIGTERM');
    await y.kill();
    const alive = new Set(others.map((o) => o.nodeId));
    for (const old of [x, y]) {
      const again = await net.start({ name: `${old.name}-again`, dataDir: old.dataDir, args: common });
      assert.equal(again.nodeId, old.nodeId, 'same data dir, same identity');
      assert.notEqual(again.address, old.address, 'restarted on a new port');
      const outbound = await pollUntil(
        async () => {
          const out = (await outboundPeers(again)).filter((id) => alive.has(id));
          return out.length >= OUTBOUND ? out : undefined;
        },
        WAIT_MS,
        `${again.name} dials ${OUTBOUND} outbound peers from its store`,
        250,
      );
      assert.ok(outbound.length >= OUTBOUND);
    }
  });
});
