/**
 * Advertised addresses in peer exchange (docs/protocol.md, "Peer exchange"):
 * a node sends its NAT mapping and what outbound peers observed; it keeps a
 * peer's advertised addresses only on the host the session comes from, and
 * passes them on while the session is open.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { GetPeersSchema, PeerListSchema, type PeerList } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { Discovery } from '../../src/discovery/discovery.js';
import { DEFAULT_TUNING } from '../../src/node/config.js';
import { PeerManager } from '../../src/peer/peer-manager.js';
import { openDatabase } from '../../src/store/database.js';
import type { SecureConnection } from '../../src/transport/types.js';
import { FakeConn } from '../helpers/fake-connection.js';
import { makeTempDir } from '../helpers/daemon.js';

const LOCAL = '55'.repeat(32);
const A = 'aa'.repeat(32);
const C = 'cc'.repeat(32);
// Full sessions: a peer speaking discovery alone is a query session.
const DISCOVERY = [{ name: 'discovery', versions: [1] }, { name: 'gossip', versions: [1] }];

function lastPeerList(conn: FakeConn): PeerList {
  const env = conn.sent.map((s) => s.env.kind).filter((k) => k.case === 'peerList').at(-1);
  assert.ok(env?.case === 'peerList', 'a PeerList was sent');
  return env.value;
}

describe('advertised addresses', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('are sent, kept from the session host only, and passed on', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const db = await openDatabase(join(dir, 'db'), dir);
    const logger = pino({ level: 'silent' });
    const m = new PeerManager({
      localId: LOCAL,
      tuning: DEFAULT_TUNING,
      maxInbound: 8,
      maxOutbound: 8,
      logger,
      dial: () => new Promise<SecureConnection>(() => undefined),
    });
    const d = await Discovery.open(db, {
      localId: LOCAL,
      peers: m,
      dial: () => new Promise<SecureConnection>(() => undefined),
      seeds: [],
      logger,
      ownAddresses: () => ['127.0.0.1:40404'],
    });
    m.registerProtocol(d);
    m.setPolicy(d.policy());
    try {
      // a dials us from 127.0.0.1 (FakeConn's host), listening on 7001.
      const a = new FakeConn('inbound', A, DISCOVERY, 7001);
      m.accept(a);
      a.deliver({ case: 'getPeers', value: create(GetPeersSchema, { max: 64 }) });
      assert.deepEqual(lastPeerList(a).advertisedAddresses, ['127.0.0.1:40404'], 'our NAT mapping is advertised');
      assert.equal(lastPeerList(a).observedAddress, '127.0.0.1:7001');

      // We asked a on open; its answer advertises one address on its host and one elsewhere.
      a.deliver({ case: 'peerList', value: create(PeerListSchema, { advertisedAddresses: ['127.0.0.1:5555', '198.51.100.9:5555'] }) });
      const known = d.knownPeers().map((k) => [k.address, k.nodeId]);
      assert.deepEqual(known.filter(([addr]) => addr!.endsWith(':5555')), [['127.0.0.1:5555', A]], 'only the address on the session host is kept');
      assert.equal(a.closed, false);

      // c asks: a's advertised address is in the sample under a's id.
      const c = new FakeConn('inbound', C, DISCOVERY, 7002);
      m.accept(c);
      c.deliver({ case: 'getPeers', value: create(GetPeersSchema, { max: 64 }) });
      const records = lastPeerList(c).peers.map((r) => [r.address, Buffer.from(r.nodeId).toString('hex')]);
      assert.ok(records.some(([addr, id]) => addr === '127.0.0.1:5555' && id === A), JSON.stringify(records));

      // Five is more than a node may advertise: nothing of it is kept.
      c.deliver({
        case: 'peerList',
        value: create(PeerListSchema, { advertisedAddresses: [1, 2, 3, 4, 5].map((i) => `127.0.0.1:600${i}`) }),
      });
      assert.ok(!d.knownPeers().some((k) => k.address.startsWith('127.0.0.1:600')));
    } finally {
      await d.stop();
      await m.stop();
      await db.close();
    }
  });
});
