import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PheromonesError } from '../../src/errors.js';
import { openDatabase } from '../../src/store/database.js';
import { bytesSublevel } from '../../src/store/database.js';
import { MessageLog, encodeRecord, encodeRecordReflective, encodeSegment, recordsOf, seqKey, type NewMessage } from '../../src/store/message-log.js';
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

  it('writes a batch of appends as one segment, and reads any seq in it by seq and by id', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    const log = await MessageLog.open(db);
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(message(i))));
    await log.append(message(40));
    // Keys are the seqs each segment starts at: 1 (forty records) and 41 (one record, stored alone).
    const raw = bytesSublevel(db, 'messages');
    const entries: [bigint, number][] = [];
    for await (const [k, v] of raw.iterator()) entries.push([new DataView(k.buffer, k.byteOffset, 8).getBigUint64(0), recordsOf(v).length]);
    assert.deepEqual(entries, [
      [1n, 40],
      [41n, 1],
    ]);
    // From inside a segment, across into the next.
    assert.deepEqual((await log.list(37n, 10)).map((m) => m.seq), [38n, 39n, 40n, 41n]);
    assert.deepEqual((await log.list(0n, 2)).map((m) => m.seq), [1n, 2n]);
    assert.deepEqual(await log.get(message(22).id), { ...message(22), seq: 23n });
    assert.equal((await log.get(message(40).id))?.seq, 41n);
    await db.close();
  });

  it('closes a segment at 256 KiB, so a batch of large messages spans several', async () => {
    const d = await dir();
    const db = await openDatabase(join(d, 'db'), d);
    const log = await MessageLog.open(db);
    const big = (i: number): NewMessage => ({ ...message(i), payload: new Uint8Array(100_000).fill(i) });
    await Promise.all(Array.from({ length: 7 }, (_, i) => log.append(big(i))));
    const counts: number[] = [];
    for await (const v of bytesSublevel(db, 'messages').values()) counts.push(recordsOf(v).length);
    assert.deepEqual(counts, [2, 2, 2, 1]);
    assert.deepEqual((await log.list(2n, 10)).map((m) => [m.seq, m.payload[0]]), [
      [3n, 2],
      [4n, 3],
      [5n, 4],
      [6n, 5],
      [7n, 6],
    ]);
    await db.close();
    const reopened = await openDatabase(join(d, 'db'), d);
    const again = await MessageLog.open(reopened);
    assert.equal(again.size, 7);
    assert.equal((await again.append(message(100)))?.seq, 8n);
    await reopened.close();
  });

  it('reads logs written one record per key (the first format) beside segments', async () => {
    const d = await dir();
    let db = await openDatabase(join(d, 'db'), d);
    const messages = bytesSublevel(db, 'messages');
    const ids = bytesSublevel(db, 'message-ids');
    // As the first format wrote them: seq 1 to 3 each under its own key.
    for (let i = 0; i < 3; i++) {
      const key = seqKey(BigInt(i + 1));
      await messages.put(key, encodeRecord(message(i)));
      await ids.put(message(i).id, key);
    }
    await db.close();
    db = await openDatabase(join(d, 'db'), d);
    const log = await MessageLog.open(db);
    assert.equal(log.size, 3);
    await Promise.all([log.append(message(3)), log.append(message(4))]);
    assert.deepEqual((await log.list(1n, 10)).map((m) => m.seq), [2n, 3n, 4n, 5n]);
    assert.equal((await log.get(message(1).id))?.seq, 2n);
    assert.equal((await log.get(message(4).id))?.seq, 5n);
    await db.close();
  });

  it('refuses a damaged segment instead of reading past it', () => {
    const segment = encodeSegment([encodeRecord(message(1)), encodeRecord(message(2))]);
    assert.equal(recordsOf(segment).length, 2);
    assert.throws(() => recordsOf(segment.subarray(0, segment.length - 3)), /damaged message log segment/);
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
