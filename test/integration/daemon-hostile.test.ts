import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { DaemonSet, withTimeout } from '../helpers/daemon.js';

/**
 * Raw TCP clients that never complete a handshake are dropped within the
 * handshake deadline, while the daemon keeps serving its real peer.
 */

/** A hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 15_000;
const HANDSHAKE_TIMEOUT_MS = 1_000;
/** Room for scheduling on a loaded 2-core machine, on top of the deadline. */
const DROP_SLACK_MS = 4_000;

interface Client {
  name: string;
  socket: Socket;
  /** Resolves when the node has closed the connection. */
  closed: Promise<void>;
}

async function openClient(port: number, name: string): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('data', () => undefined); // a plain Disconnect may come first; it is not what is tested
  socket.on('error', () => undefined); // a reset counts as dropped too
  const closed = new Promise<void>((ok) => socket.once('close', () => ok()));
  await withTimeout(new Promise<void>((ok) => socket.once('connect', () => ok())), WAIT_MS, `${name} connects`);
  return { name, socket, closed };
}

describe('pheromones-node against hostile clients', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('drops garbage, oversized lengths and silent clients within the handshake deadline, serving its peer all along', { timeout: TEST_TIMEOUT_MS }, async () => {
    const args = ['--handshake-timeout', String(HANDSHAKE_TIMEOUT_MS)];
    const a = await net.start({ name: 'A', args });
    const b = await net.start({ name: 'B', peers: [a.address], args });
    await Promise.all([a.waitForPeers([b.nodeId], WAIT_MS), b.waitForPeers([a.nodeId], WAIT_MS)]);

    const clients = await Promise.all([
      openClient(a.port, 'random garbage'),
      openClient(a.port, 'frame with a bad hash'),
      openClient(a.port, 'oversized length'),
      openClient(a.port, 'silent'),
      openClient(a.port, 'half a frame'),
    ]);
    const [garbage, badHash, oversized, , half] = clients;
    garbage!.socket.write(randomBytes(4096));
    // A well-formed header (length 32, then a 32-byte hash) over a body that does not match it.
    badHash!.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 32]), Buffer.alloc(32), randomBytes(32)]));
    // Announces a 4 GiB body: must be refused before anything is allocated.
    oversized!.socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), randomBytes(64)]));
    // A plausible length, then nothing more: only the deadline ends it.
    half!.socket.write(Buffer.from([0, 0, 1, 0]));

    // While those are pending, the real peer is still served.
    a.writeLine('still serving');
    await b.waitForChat((c) => c.text === 'still serving', WAIT_MS, 'a chat line at B during the attack');

    await Promise.all(
      clients.map((c) => withTimeout(c.closed, HANDSHAKE_TIMEOUT_MS + DROP_SLACK_MS, `the node to drop the ${c.name} client`)),
    );
    assert.equal(a.running, true);
    assert.ok(a.connectedPeers().has(b.nodeId), 'B is still connected');
    a.writeLine('and after');
    await b.waitForChat((c) => c.text === 'and after', WAIT_MS, 'a chat line at B after the attack');
    assert.equal(a.logs.filter((r) => r.msg === 'peer connected').length, 1, 'no hostile client became a peer');
    await a.stopCleanly();
  });
});
