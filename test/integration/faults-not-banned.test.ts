/**
 * A peer is punished only for what it provably did (BIP324's rule): a record
 * damaged on the path closes the link and the nodes meet again; a record the
 * peer itself sealed with garbage inside still gets it banned.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { generateIdentity } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { DisconnectReason } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { dialSecure, PROTOCOL_VERSION, type CloseInfo } from '../../src/transport/index.js';
import { DaemonSet, pollUntil, withTimeout, type Daemon } from '../helpers/daemon.js';
import { relay } from '../helpers/relay.js';
import { apiOf, cli, ok } from './chain-harness.js';

const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 20_000;

async function bans(d: Daemon): Promise<{ target: string; reason: string }[]> {
  const api = await apiOf(d);
  return (JSON.parse(ok(await cli(['peers', 'bans', '--json', ...api.flags]), 'peers bans')) as { bans?: { target: string; reason: string }[] }).bans ?? [];
}

const connections = (d: Daemon, peer: string): number => d.logs.filter((r) => r.msg === 'peer connected' && r.peer === peer).length;

describe('faults that are not a peer\'s fault', { timeout: TEST_TIMEOUT_MS }, () => {
  const net = new DaemonSet();
  const relays: { close(): Promise<void> }[] = [];
  after(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await net.cleanup();
  });

  it('a bit flipped on the path drops the link, bans nobody, and the nodes talk again', async () => {
    const b = await net.start({ name: 'b' });
    let armed = false;
    let flipped = 0;
    // A → B through a relay that, once armed, flips one bit of the next chunk: the end of a sealed record (its tag).
    const path = await relay(b.port, (chunk) => {
      if (!armed || chunk.length < 20) return chunk;
      armed = false;
      flipped++;
      const c = Buffer.from(chunk);
      c[c.length - 1]! ^= 0x10;
      return c;
    });
    relays.push(path);
    const a = await net.start({ name: 'a', peers: [`127.0.0.1:${path.port}`] });
    await b.waitForPeers([a.nodeId], WAIT_MS);
    await a.waitForPeers([b.nodeId], WAIT_MS);
    const aApi = await apiOf(a);

    armed = true;
    ok(await cli(['msg', 'send', 'into the damaged record', ...aApi.flags]), 'msg send');
    const dropped = await b.waitForLog((r) => r.msg === 'peer disconnected' && r.peer === a.nodeId, WAIT_MS, 'b drops the damaged link');
    assert.equal(flipped, 1, 'the relay damaged one chunk');
    assert.equal(dropped.cause, 'corrupt-record', `b says why: ${JSON.stringify(dropped)}`);

    // A redials its persistent peer through the same (now clean) path, and B lets it in.
    await pollUntil(() => connections(b, a.nodeId) >= 2, WAIT_MS, 'a reconnects to b');
    assert.deepEqual(await bans(b), [], 'b banned nobody');
    assert.deepEqual(await bans(a), [], 'a banned nobody');
    assert.equal(b.logs.some((r) => r.msg === 'peer banned for misbehaviour'), false);

    ok(await cli(['msg', 'send', 'after the fault', ...aApi.flags]), 'msg send');
    await b.waitForChat((c) => c.text === 'after the fault', 15_000);
  });

  it('a peer that seals a garbage body itself is still banned', async () => {
    const b = await net.start({ name: 'b2' });
    const identity = generateIdentity();
    const conn = await dialSecure('127.0.0.1', b.port, {
      identity,
      hello: { networkId: networkIdFor('devnet'), protocolVersion: PROTOCOL_VERSION, listenPort: 0, protocols: [{ name: 'gossip', versions: [1] }], userAgent: 'hostile/1' },
      handshakeTimeoutMs: WAIT_MS,
      maxFrameBytes: 4 * 1024 * 1024,
    });
    conn.on('message', () => undefined);
    const closed = once(conn, 'close') as Promise<[CloseInfo]>;
    // Authenticated under the session key, so only this peer can have sent it; not an Envelope.
    conn.sendEncoded(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    const [info] = await withTimeout(closed, WAIT_MS, 'b drops the peer');
    assert.equal(info.remote, true);
    assert.equal(info.reason, DisconnectReason.PROTOCOL_VIOLATION);
    const list = await pollUntil(async () => {
      const l = await bans(b);
      return l.length > 0 ? l : undefined;
    }, WAIT_MS, 'the ban', 200);
    assert.ok(list.some((x) => x.target === identity.nodeIdHex), `the node id is banned: ${JSON.stringify(list)}`);
  });
});
