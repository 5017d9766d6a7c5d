import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BanList } from '../../src/store/ban-list.js';
import { openDatabase } from '../../src/store/database.js';
import { PeerStore } from '../../src/store/peer-store.js';

describe('peer store and ban list (LevelDB)', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const dir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'pheromones-discovery-'));
    dirs.push(d);
    return d;
  };

  it('records sources, attempts, successes and failures, and survives reopening', async () => {
    const d = await dir();
    let db = await openDatabase(join(d, 'db'), d);
    let store = await PeerStore.open(db);
    store.learn('10.0.0.1:7000', 'seed', '', 1_000);
    store.learn('10.0.0.2:7000', 'exchange', 'ab'.repeat(32), 2_000);
    store.attempt('10.0.0.1:7000', 3_000);
    store.success('10.0.0.1:7000', 'cd'.repeat(32), 3_100);
    store.failure('10.0.0.2:7000');
    await store.flush();
    await db.close();
    db = await openDatabase(join(d, 'db'), d);
    store = await PeerStore.open(db);
    const one = store.get('10.0.0.1:7000')!;
    assert.equal(one.source, 'seed');
    assert.equal(one.nodeId, 'cd'.repeat(32));
    assert.equal(one.lastAttemptMs, 3_000);
    assert.equal(one.lastSuccessMs, 3_100);
    assert.equal(store.get('10.0.0.2:7000')!.failures, 1);
    assert.deepEqual(store.list().map((e) => e.address), ['10.0.0.1:7000', '10.0.0.2:7000']);
    await db.close();
  });

  it('ages out addresses that keep failing and stays within its size bound', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    const store = await PeerStore.open(db, { maxEntries: 5, maxFailuresNeverReached: 2, maxFailures: 3 });
    store.learn('10.0.0.1:1', 'exchange');
    store.failure('10.0.0.1:1');
    store.failure('10.0.0.1:1');
    assert.equal(store.get('10.0.0.1:1'), undefined, 'never reached: gone after 2 failures');
    store.success('10.0.0.2:1', 'ab'.repeat(32));
    store.failure('10.0.0.2:1');
    store.failure('10.0.0.2:1');
    assert.ok(store.get('10.0.0.2:1') !== undefined, 'reached before: kept longer');
    store.failure('10.0.0.2:1');
    assert.equal(store.get('10.0.0.2:1'), undefined);
    store.success('10.0.1.1:1', 'ef'.repeat(32));
    for (let i = 0; i < 20; i++) store.learn(`10.1.0.${i}:1`, 'exchange', '', i);
    assert.equal(store.size, 5);
    assert.ok(store.get('10.0.1.1:1') !== undefined, 'a reached address outlives never-reached ones');
    await store.flush();
    await db.close();
  });

  it('bans match by any target, expire, and survive reopening', async () => {
    const d = await dir();
    let db = await openDatabase(join(d, 'db'), d);
    let bans = await BanList.open(db);
    const now = Date.now();
    bans.add('10.0.0.9:7000', 'flood', 60_000, now);
    bans.add('ab'.repeat(32), 'bad answers', 10, now - 1_000);
    assert.equal(bans.find(['x', '10.0.0.9:7000'])?.reason, 'flood');
    assert.equal(bans.find(['ab'.repeat(32)]), undefined, 'expired');
    await bans.flush();
    await db.close();
    db = await openDatabase(join(d, 'db'), d);
    bans = await BanList.open(db);
    assert.deepEqual(bans.list().map((b) => b.target), ['10.0.0.9:7000']);
    assert.equal(bans.remove('10.0.0.9:7000')?.reason, 'flood');
    assert.equal(bans.remove('10.0.0.9:7000'), undefined);
    await bans.flush();
    await db.close();
  });
});
