import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PheromonesError } from '../../src/errors.js';
import { openDatabase } from '../../src/store/database.js';
import { MessageLog, encodeRecord, encodeRecordReflective, seqKey, type NewMessage } from '../../src/store/message-log.js';
import { rng } from '../helpers/fuzz.js';

function message(i: number, topic = 't'): NewMessage {
  const id = new Uint8Array(32);
  new DataView(id.buffer).setUint32(0, i);
  return {
    id,
    topic,
    origin: 'ab'.repeat(32),
    hops: i % 5,
    timestampMs: 1_700_000_000_000 + i,
    receivedAtMs: 1_700_000_000_500 + i,
    payload: new TextEncoder().encode(`payload ${i}`),
  };
}

describe('MessageLog', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  async function dir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'pheromones-store-'));
    dirs.push(d);
    return d;
  }

  it('writes records by hand exactly as protobuf-es does', () => {
    const r = rng(3);
    const pick = <T>(xs: T[]): T => xs[r.int(xs.length)]!;
    for (let i = 0; i < 2_000; i++) {
      const msg: NewMessage = {
        id: new Uint8Array(r.bytes(pick([0, 32]))),
        topic: pick(['', 't', 'ünïcödé 🐜', 'x'.repeat(300)]),
        origin: pick(['', 'ab'.repeat(32)]),
        hops: pick([0, 1, 200, 0xffffffff, r.int(0x10000)]),
        timestampMs: pick([0, 1_700_000_000_000 + r.int(1e9), Number.MAX_SAFE_INTEGER]),
        receivedAtMs: pick([0, 127, 128, Date.now()]),
        payload: new Uint8Array(r.bytes(pick([0, 1, 1024, r.int(70_000)]))),
      };
      assert.deepEqual(Buffer.from(encodeRecord(msg)), Buffer.from(encodeRecordReflective(msg)), `record ${i}`);
    }
  });

  it('keys sort as numbers (8-byte big-endian)', () => {
    assert.ok(Buffer.compare(seqKey(255n), seqKey(256n)) < 0);
    assert.ok(Buffer.compare(seqKey(1n), seqKey(2n ** 40n)) < 0);
  });

  it('assigns seqs in append order, even for appends issued at once', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    const log = await MessageLog.open(db);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(message(i))));
    assert.deepEqual(results.map((r) => r?.seq), Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    assert.equal(log.size, 50);
    const listed = await log.list(0n, 1000);
    assert.deepEqual(listed.map((m) => new TextDecoder().decode(m.payload)), Array.from({ length: 50 }, (_, i) => `payload ${i}`));
    const first = listed[0]!;
    assert.deepEqual(first, { ...message(0), seq: 1n });
    assert.deepEqual((await log.list(48n, 10)).map((m) => m.seq), [49n, 50n]);
    assert.deepEqual(await log.list(50n, 10), []);
    assert.deepEqual((await log.list(10n, 3)).map((m) => m.seq), [11n, 12n, 13n]);
    await db.close();
  });

  it('does not log the same id twice', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    const log = await MessageLog.open(db);
    assert.equal((await log.append(message(7)))?.seq, 1n);
    assert.equal(await log.append(message(7)), undefined);
    assert.equal(log.size, 1);
    await db.close();
  });

  it('filters by topic and finds by id', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    const log = await MessageLog.open(db);
    for (let i = 0; i < 10; i++) await log.append(message(i, i % 2 === 0 ? 'even' : 'odd'));
    assert.deepEqual((await log.list(0n, 3, 'odd')).map((m) => m.seq), [2n, 4n, 6n]);
    const got = await log.get(message(5).id);
    assert.equal(got?.seq, 6n);
    assert.equal(got?.topic, 'odd');
    assert.equal(await log.get(new Uint8Array(32).fill(9)), undefined);
    await db.close();
  });

  it('recovers size and sequence after reopening', async () => {
    const d = await dir();
    let db = await openDatabase(join(d, 'db'), d);
    let log = await MessageLog.open(db);
    for (let i = 0; i < 300; i++) void log.append(message(i));
    await log.flush();
    await db.close();

    db = await openDatabase(join(d, 'db'), d);
    log = await MessageLog.open(db);
    assert.equal(log.size, 300);
    // Before and after the id filter is rebuilt from disk, what was logged before is refused, once and in a batch.
    assert.equal(await log.append(message(4)), undefined);
    await log.indexed;
    assert.equal(await log.append(message(5)), undefined);
    const again = await Promise.all([log.append(message(6)), log.append(message(1001)), log.append(message(1001))]);
    assert.deepEqual(again.map((m) => m?.seq), [undefined, 301n, undefined]);
    assert.equal((await log.append(message(1000)))?.seq, 302n);
    const tail = await log.list(298n, 10);
    assert.deepEqual(tail.map((m) => m.seq), [299n, 300n, 301n, 302n]);
    await db.close();
  });

  it('refuses a second open of the same directory with a clear message', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    await assert.rejects(openDatabase(join(d, 'db'), d), (err: unknown) => {
      assert.ok(err instanceof PheromonesError);
      assert.equal(err.kind, 'failed-precondition');
      assert.match(err.message, /is in use by another pheromones-node/);
      return true;
    });
    await db.close();
  });
});
