import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { MessageRecordSchema } from '../gen/pheromones/store/v1/store_pb.js';
import { toHex } from '../crypto/hash.js';
import { IdFilter } from './id-filter.js';
import { ExactWriter, LenientReader, WIRE_LEN, WIRE_VARINT, lenFieldSize, tag, varintSize } from '../wire/proto-bytes.js';
import { bytesSublevel, type BytesSublevel, type Database } from './database.js';

/** One delivered broadcast, as stored in the message log. */
export interface StoredMessage {
  /** Position in this node's log, starting at 1, strictly increasing. */
  seq: bigint;
  /** 32-byte message id. */
  id: Uint8Array;
  topic: string;
  /** Hex node id of the origin. */
  origin: string;
  hops: number;
  /** Origin's timestamp (ms since epoch). */
  timestampMs: number;
  /** When this node delivered it (ms since epoch). */
  receivedAtMs: number;
  payload: Uint8Array;
}

/** A message about to be logged: everything but the seq the log assigns. */
export type NewMessage = Omit<StoredMessage, 'seq'>;

export function seqKey(seq: bigint): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, seq);
  return key;
}

function seqFromKey(key: Uint8Array): bigint {
  if (key.length !== 8) throw new Error(`message log key of ${key.length} bytes, expected 8`);
  return new DataView(key.buffer, key.byteOffset, 8).getBigUint64(0);
}

function isUint(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** A record's bytes, plus its message with id and payload as views into them (one allocation for all three). */
interface EncodedRecord {
  value: Uint8Array;
  /** The message as it will be delivered; its seq is set when the write is ordered. */
  msg: StoredMessage;
}

/**
 * A MessageRecord's bytes, written by hand on the delivery path (one per
 * message per node) exactly as protobuf-es writes them, which the unit tests
 * check; values outside what the hand path covers go through protobuf-es.
 */
export function encodeRecord(msg: NewMessage): Uint8Array {
  return encodeRecordWithViews(msg).value;
}

function encodeRecordWithViews(msg: NewMessage): EncodedRecord {
  if (!isUint(msg.hops) || msg.hops > 0xffffffff || !isUint(msg.timestampMs) || !isUint(msg.receivedAtMs)) {
    return { value: encodeRecordReflective(msg), msg: { ...msg, id: new Uint8Array(msg.id), payload: new Uint8Array(msg.payload), seq: 0n } };
  }
  const origin = Buffer.from(msg.origin, 'hex');
  const topicLength = Buffer.byteLength(msg.topic, 'utf8');
  let size = 0;
  if (msg.id.length > 0) size += lenFieldSize(msg.id.length);
  if (topicLength > 0) size += lenFieldSize(topicLength);
  if (origin.length > 0) size += lenFieldSize(origin.length);
  if (msg.hops !== 0) size += 1 + varintSize(msg.hops);
  if (msg.timestampMs !== 0) size += 1 + varintSize(msg.timestampMs);
  if (msg.receivedAtMs !== 0) size += 1 + varintSize(msg.receivedAtMs);
  if (msg.payload.length > 0) size += lenFieldSize(msg.payload.length);
  const w = new ExactWriter(size, true);
  let id: Uint8Array = EMPTY;
  let payload: Uint8Array = EMPTY;
  if (msg.id.length > 0) {
    w.varint(tag(1, WIRE_LEN)).varint(msg.id.length);
    const at = w.offset;
    id = w.raw(msg.id).view(at);
  }
  if (topicLength > 0) w.varint(tag(2, WIRE_LEN)).utf8(msg.topic, topicLength);
  if (origin.length > 0) w.varint(tag(3, WIRE_LEN)).bytes(origin);
  if (msg.hops !== 0) w.varint(tag(4, WIRE_VARINT)).varint(msg.hops);
  if (msg.timestampMs !== 0) w.varint(tag(5, WIRE_VARINT)).varint(msg.timestampMs);
  if (msg.receivedAtMs !== 0) w.varint(tag(6, WIRE_VARINT)).varint(msg.receivedAtMs);
  if (msg.payload.length > 0) {
    w.varint(tag(7, WIRE_LEN)).varint(msg.payload.length);
    const at = w.offset;
    payload = w.raw(msg.payload).view(at);
  }
  return { value: w.finish(), msg: { ...msg, id, payload, seq: 0n } };
}

const EMPTY = new Uint8Array(0);

/** The same record through protobuf-es (also the reference the hand encoder is tested against). */
export function encodeRecordReflective(msg: NewMessage): Uint8Array {
  return toBinary(
    MessageRecordSchema,
    create(MessageRecordSchema, {
      id: msg.id,
      topic: msg.topic,
      origin: Buffer.from(msg.origin, 'hex'),
      hops: msg.hops,
      timestampMs: BigInt(msg.timestampMs),
      receivedAtMs: BigInt(msg.receivedAtMs),
      payload: msg.payload,
    }),
  );
}

function decodeRecord(seq: bigint, bytes: Uint8Array): StoredMessage {
  // LevelDB hands back Buffers; fields decoded from a plain view are plain Uint8Arrays.
  const r = fromBinary(MessageRecordSchema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return {
    seq,
    id: r.id,
    topic: r.topic,
    origin: toHex(r.origin),
    hops: r.hops,
    timestampMs: Number(r.timestampMs),
    receivedAtMs: Number(r.receivedAtMs),
    payload: r.payload,
  };
}

/**
 * A value starting with this byte is a segment: records of consecutive seqs,
 * the first under the segment's key, each preceded by its length as a
 * varint. A single record never starts with it (a protobuf tag is never 0).
 * One LevelDB put per batch of records instead of one per record: each
 * operation costs the event loop (classic-level converts it), and leaving
 * one of a message's two puts out took about 15% off the 32-node broadcast
 * bench's loop time per message (docs/protocol.md).
 */
const SEGMENT = 0x00;
/** A segment is closed at this many bytes (one record may take it past). */
const SEGMENT_BYTES = 256 * 1024;

/** A segment of `records` (records of consecutive seqs). */
export function encodeSegment(records: Uint8Array[]): Uint8Array {
  let size = 1;
  for (const r of records) size += varintSize(r.length) + r.length;
  const w = new ExactWriter(size);
  w.raw(Uint8Array.of(SEGMENT));
  for (const r of records) w.bytes(r);
  return w.finish();
}

/** The records of a stored value (a segment, or one record of the first format), as views; throws on a damaged segment. */
export function recordsOf(value: Uint8Array): Uint8Array[] {
  if (value.length === 0 || value[0] !== SEGMENT) return [value];
  const r = new LenientReader(value, 1);
  const out: Uint8Array[] = [];
  while (!r.done) {
    const record = r.bytes();
    if (record === undefined) throw new Error(`damaged message log segment: ${value.length} bytes, ${out.length} records read`);
    out.push(record);
  }
  return out;
}

/** Most messages written in one LevelDB batch. */
const MAX_BATCH = 512;

interface PendingAppend {
  record: EncodedRecord;
  resolve: (stored: StoredMessage | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * The delivered-message log: records under 8-byte big-endian sequence keys
 * (so LevelDB's key order is arrival order), several to a segment under the
 * seq of its first, plus an id → seq index. Appends
 * are queued and written by one writer, several per LevelDB batch while a
 * write is in flight, so seq order is exactly the order append() was called
 * in and each append resolves in that order.
 */
export class MessageLog {
  private readonly messages: BytesSublevel;
  private readonly ids: BytesSublevel;
  /** Every id in the log, approximately: a new id is known new without reading the disk. */
  private readonly known = new IdFilter();
  /** Until the filter holds the ids already on disk, every append reads the disk. */
  private knownComplete = false;
  /** Resolves once the id filter holds every id that was on disk at open (or gave up: it never rejects). */
  indexed: Promise<void> = Promise.resolve();
  private nextSeq = 1n;
  private readonly queue: PendingAppend[] = [];
  private writing = false;
  private idleWaiters: (() => void)[] = [];

  private constructor(private readonly db: Database) {
    this.messages = bytesSublevel(db, 'messages');
    this.ids = bytesSublevel(db, 'message-ids');
  }

  /** Recover the sequence from what is on disk. */
  static async open(db: Database): Promise<MessageLog> {
    const log = new MessageLog(db);
    for await (const [key, value] of log.messages.iterator({ reverse: true, limit: 1 })) {
      log.nextSeq = seqFromKey(key) + BigInt(recordsOf(value).length);
    }
    // One pass over the id index, in the background: it takes about 6 s per
    // million messages, which start-up should not wait for.
    log.indexed = log.indexIds();
    return log;
  }

  private async indexIds(): Promise<void> {
    try {
      for await (const id of this.ids.keys()) this.known.add(id);
      this.knownComplete = true;
    } catch {
      // The database closed before the pass ended (the node stopped), or a
      // read failed: appends keep reading the disk, which is always right.
    }
  }

  /** Seqs start at 1 and nothing is ever deleted, so the size is the last seq. */
  get size(): number {
    return Number(this.nextSeq - 1n);
  }

  /**
   * Log a message and resolve with its seq, or with undefined when a message
   * with that id is already in the log (so a delivery survives a seen-cache
   * eviction without being logged twice).
   */
  append(msg: NewMessage): Promise<StoredMessage | undefined> {
    // Encoded now, so views the caller passed (into a received record) are not kept while queued.
    const record = encodeRecordWithViews(msg);
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (this.writing) return;
      // Start on the next turn of the loop, so that every append made while
      // this one's network reads are handled shares its LevelDB batch.
      this.writing = true;
      setImmediate(() => void this.drain());
    });
  }

  /** Resolves once every append queued so far has been written (or failed). */
  flush(): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        const results = await this.write(batch.map((p) => p.record));
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.writing = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async write(records: EncodedRecord[]): Promise<(StoredMessage | undefined)[]> {
    // Only ids the filter cannot rule out are looked up: true copies (after a
    // seen-cache eviction or a restart) and the filter's rare false positives.
    const maybe = this.knownComplete ? records.filter((r) => this.known.mightHave(r.msg.id)) : records;
    const found = maybe.length === 0 ? [] : await this.ids.getMany(maybe.map((r) => r.msg.id));
    const onDisk = new Set(maybe.filter((_r, i) => found[i] !== undefined));
    // Two appends of one id in one batch: only the first is logged.
    const inBatch = records.length > 1 ? new Set<string>() : undefined;
    const ops: { type: 'put'; sublevel: BytesSublevel; key: Uint8Array; value: Uint8Array }[] = [];
    const results: (StoredMessage | undefined)[] = [];
    let seq = this.nextSeq;
    let segment: Uint8Array[] = [];
    let segmentBytes = 0;
    const closeSegment = (): void => {
      if (segment.length === 0) return;
      const first = seq - BigInt(segment.length);
      ops.push({ type: 'put', sublevel: this.messages, key: seqKey(first), value: segment.length === 1 ? segment[0]! : encodeSegment(segment) });
      segment = [];
      segmentBytes = 0;
    };
    for (const record of records) {
      const { msg, value } = record;
      const hex = inBatch === undefined ? '' : toHex(msg.id);
      if (onDisk.has(record) || inBatch?.has(hex) === true) {
        results.push(undefined);
        continue;
      }
      inBatch?.add(hex);
      if (segmentBytes + value.length > SEGMENT_BYTES) closeSegment();
      ops.push({ type: 'put', sublevel: this.ids, key: msg.id, value: seqKey(seq) });
      segment.push(value);
      segmentBytes += value.length;
      msg.seq = seq;
      results.push(msg);
      seq++;
    }
    closeSegment();
    if (ops.length > 0) await this.db.batch(ops);
    for (const m of results) if (m !== undefined) this.known.add(m.id);
    this.nextSeq = seq;
    return results;
  }

  /** Messages with seq > afterSeq, oldest first, at most `limit`, optionally of one topic. */
  async list(afterSeq: bigint, limit: number, topic?: string): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    if (limit <= 0) return out;
    const from = afterSeq < 0n ? 0n : afterSeq;
    if (from >= 0xffffffffffffffffn) return out;
    // The first wanted seq may be inside a segment that starts before it.
    const start = (await this.entryHolding(from + 1n))?.first ?? from + 1n;
    for await (const [key, value] of this.messages.iterator({ gte: seqKey(start) })) {
      let seq = seqFromKey(key);
      for (const record of recordsOf(value)) {
        if (seq > from) {
          const msg = decodeRecord(seq, record);
          if (topic === undefined || msg.topic === topic) out.push(msg);
          if (out.length >= limit) return out;
        }
        seq++;
      }
    }
    return out;
  }

  async get(id: Uint8Array): Promise<StoredMessage | undefined> {
    const key = await this.ids.get(id);
    if (key === undefined) return undefined;
    const seq = seqFromKey(key);
    const entry = await this.entryHolding(seq);
    const record = entry?.records[Number(seq - entry.first)];
    return record === undefined ? undefined : decodeRecord(seq, record);
  }

  /** The records of the stored value whose seqs include `seq` (the last entry keyed at or before it), if any. */
  private async entryHolding(seq: bigint): Promise<{ first: bigint; records: Uint8Array[] } | undefined> {
    if (seq > 0xffffffffffffffffn) return undefined;
    for await (const [key, value] of this.messages.iterator({ lte: seqKey(seq), reverse: true, limit: 1 })) {
      const first = seqFromKey(key);
      const records = recordsOf(value);
      return seq - first < BigInt(records.length) ? { first, records } : undefined;
    }
    return undefined;
  }
}
