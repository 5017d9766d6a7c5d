import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { EnvelopeSchema } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import {
  BodyDecodeError,
  FrameHashMismatchError,
  FrameTooLargeError,
  MalformedRecordError,
  PlainFrameDecoder,
  RecordReader,
  TruncatedFrameError,
  decodeEnvelope,
  decodePlainFrame,
  encodePlainFrame,
  packInnerFrames,
  recordHeader,
  unpackInnerFrames,
} from '../../src/wire/index.js';
import { PheromonesError } from '../../src/errors.js';

const body = toBinary(
  EnvelopeSchema,
  create(EnvelopeSchema, { kind: { case: 'direct', value: { topic: 'wire', payload: Buffer.from('frame codec test payload') } } }),
);

function isViolation<T extends PheromonesError>(cls: new (...a: never[]) => T) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.equal((err as PheromonesError).kind, 'protocol-violation');
    return true;
  };
}

test('plain frame layout is u32 BE length | sha256(body) | body and round-trips', () => {
  const f = encodePlainFrame(body);
  assert.equal(f.readUInt32BE(0), body.length);
  assert.deepEqual(f.subarray(4, 36), createHash('sha256').update(body).digest());
  assert.deepEqual(Buffer.from(f.subarray(36)), Buffer.from(body));
  const { body: out, consumed } = decodePlainFrame(Buffer.concat([f, Buffer.from([1, 2, 3])]));
  assert.equal(consumed, f.length);
  assert.deepEqual(Buffer.from(out), Buffer.from(body));
  assert.equal(decodeEnvelope(out).kind.case, 'direct');
  const empty = decodePlainFrame(encodePlainFrame(new Uint8Array(0)));
  assert.equal(empty.body.length, 0);
});

test('a frame announcing more than the limit fails before its body is read or allocated', () => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(0xffffffff, 0);
  assert.throws(() => decodePlainFrame(header, 1024), isViolation(FrameTooLargeError));
  const dec = new PlainFrameDecoder(1024);
  dec.push(header);
  assert.throws(() => dec.next(), isViolation(FrameTooLargeError));
  assert.equal(dec.bufferedBytes, 4);
  assert.throws(() => encodePlainFrame(new Uint8Array(1025), 1024), isViolation(FrameTooLargeError));
});

test('a frame cut at every byte offset is TruncatedFrameError one-shot and waits when streamed', () => {
  const f = encodePlainFrame(body);
  for (let cut = 0; cut < f.length; cut++) {
    assert.throws(() => decodePlainFrame(f.subarray(0, cut)), isViolation(TruncatedFrameError));
    const dec = new PlainFrameDecoder();
    dec.push(f.subarray(0, cut));
    assert.equal(dec.next(), undefined);
    dec.push(f.subarray(cut));
    assert.deepEqual(Buffer.from(dec.next()!), Buffer.from(body));
    assert.equal(dec.next(), undefined);
  }
});

test('the streaming decoder reassembles frames from byte-sized chunks', () => {
  const frames = [body, new Uint8Array(0), Buffer.alloc(70_000, 9)].map((b) => encodePlainFrame(b));
  const all = Buffer.concat(frames);
  const dec = new PlainFrameDecoder();
  const out: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += 7) {
    dec.push(all.subarray(i, i + 7));
    for (let b = dec.next(); b !== undefined; b = dec.next()) out.push(b);
  }
  assert.deepEqual(out.map((b) => b.length), [body.length, 0, 70_000]);
  assert.equal(dec.bufferedBytes, 0);
});

test('a changed body or hash byte is FrameHashMismatchError', () => {
  const f = encodePlainFrame(body);
  for (const at of [4, 20, 35, 36, f.length - 1]) {
    const bad = Buffer.from(f);
    bad[at]! ^= 0x80;
    assert.throws(() => decodePlainFrame(bad), isViolation(FrameHashMismatchError));
  }
});

test('a body that is not an Envelope is BodyDecodeError', () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const { body: out } = decodePlainFrame(encodePlainFrame(garbage));
  assert.throws(() => decodeEnvelope(out), isViolation(BodyDecodeError));
  assert.throws(() => decodeEnvelope(Buffer.from([0x0a, 0x05, 0x01])), isViolation(BodyDecodeError));
});

test('inner frames pack back to back and unpack to the same bodies', () => {
  const bodies = Array.from({ length: 200 }, (_, i) => Buffer.alloc(i * 13, i));
  const packed = packInnerFrames(bodies);
  assert.equal(packed.readUInt32BE(0), 0);
  const out = unpackInnerFrames(packed);
  assert.deepEqual(out.map((b) => Buffer.from(b)), bodies);
});

test('inner lengths are checked against the record and the frame limit', () => {
  const packed = packInnerFrames([Buffer.alloc(10, 1), Buffer.alloc(5, 2)]);
  assert.throws(() => unpackInnerFrames(packed.subarray(0, packed.length - 1)), isViolation(MalformedRecordError));
  assert.throws(() => unpackInnerFrames(packed.subarray(0, 16)), isViolation(MalformedRecordError));
  assert.throws(() => unpackInnerFrames(new Uint8Array(0)), isViolation(MalformedRecordError));
  assert.throws(() => unpackInnerFrames(packed, 8), isViolation(FrameTooLargeError));
});

test('the record reader bounds the length field before buffering', () => {
  const reader = new RecordReader(1024);
  reader.push(recordHeader(1024 + 4 + 1));
  assert.throws(() => reader.next(), isViolation(FrameTooLargeError));
  const tiny = new RecordReader(1024);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(19, 0);
  tiny.push(h);
  assert.throws(() => tiny.next(), isViolation(MalformedRecordError));
  const ok = new RecordReader(1024);
  const header = recordHeader(1024 + 4);
  ok.push(header);
  assert.equal(ok.next(), undefined);
  ok.push(Buffer.alloc(1024 + 4 + 16 - 1));
  assert.equal(ok.next(), undefined);
  ok.push(Buffer.alloc(1));
  const rec = ok.next()!;
  assert.equal(rec.ciphertext.length, 1028);
  assert.equal(rec.tag.length, 16);
  assert.deepEqual(Buffer.from(rec.header), header);
});
