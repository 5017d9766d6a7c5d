import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  EnvelopeSchema,
  GossipGraftSchema,
  GossipIHaveSchema,
  GossipMessageSchema,
  GossipPruneSchema,
  type Envelope,
} from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { BodyDecodeError, decodeEnvelope, encodeEnvelope } from '../../src/wire/index.js';
import { decodeGossipEnvelope } from '../../src/wire/gossip-envelope.js';
import { mutate, rng, type Rng } from '../helpers/fuzz.js';

// The hand codec must be indistinguishable from protobuf-es: same bytes out,
// same messages in, same refusals.

const TOPICS = ['', 'chat', 'bench-7-rate-300', 'ünïcödé', '話題🐜', '\uFEFFbom', 'x'.repeat(200)];

function u64(r: Rng): bigint {
  switch (r.int(4)) {
    case 0:
      return 0n;
    case 1:
      return BigInt(r.int(0x7fffffff));
    case 2:
      return BigInt(Date.now() + r.int(1_000_000));
    default:
      return (BigInt(r.int(0x100000000)) << 32n) | BigInt(r.int(0x100000000));
  }
}

function u32(r: Rng): number {
  return [0, 1, 127, 128, 16_383, 16_384, 0xffffffff, r.int(0x100000000)][r.int(8)]!;
}

function bytes(r: Rng, max: number): Uint8Array {
  return r.int(4) === 0 ? new Uint8Array(0) : new Uint8Array(r.bytes(r.int(max + 1)));
}

function randomEnvelope(r: Rng): Envelope {
  switch (r.int(5)) {
    case 0:
    case 1:
      return create(EnvelopeSchema, {
        kind: {
          case: 'gossip',
          value: create(GossipMessageSchema, {
            id: bytes(r, 40),
            topic: TOPICS[r.int(TOPICS.length)]!,
            ttl: u32(r),
            hops: u32(r),
            origin: bytes(r, 40),
            timestampMs: u64(r),
            payload: bytes(r, 2048),
            nonce: u64(r),
            pathWeights: Array.from({ length: r.int(3) === 0 ? 0 : r.int(10) }, () => u32(r)),
          }),
        },
      });
    case 2: {
      const ids = Array.from({ length: r.int(300) }, () => bytes(r, 33));
      // Full ids, gossip/4 prefixes, or (not what a node sends, but valid protobuf) both.
      const idPrefixes = r.int(2) === 0 ? new Uint8Array(0) : bytes(r, 2100);
      return create(EnvelopeSchema, { kind: { case: 'gossipIhave', value: create(GossipIHaveSchema, { ids, idPrefixes }) } });
    }
    case 3: {
      const ids = Array.from({ length: r.int(20) }, () => bytes(r, 33));
      const idPrefixes = r.int(2) === 0 ? new Uint8Array(0) : bytes(r, 200);
      return create(EnvelopeSchema, { kind: { case: 'gossipGraft', value: create(GossipGraftSchema, { ids, idPrefixes }) } });
    }
    default:
      return create(EnvelopeSchema, { kind: { case: 'gossipPrune', value: create(GossipPruneSchema) } });
  }
}

/** decodeEnvelope must answer exactly what protobuf-es answers, a refusal included. */
function assertDecodesLikeProtobufEs(body: Uint8Array): void {
  let expected: Envelope | undefined;
  try {
    expected = fromBinary(EnvelopeSchema, body);
  } catch {
    assert.throws(() => decodeEnvelope(body), BodyDecodeError);
    return;
  }
  assert.deepEqual(decodeEnvelope(body), expected);
}

describe('gossip envelope codec', () => {
  it('writes the same bytes as protobuf-es and reads them back the same, by its own fast path', () => {
    const r = rng(7);
    for (let i = 0; i < 3_000; i++) {
      const env = randomEnvelope(r);
      const body = encodeEnvelope(env);
      assert.deepEqual(Buffer.from(body), Buffer.from(toBinary(EnvelopeSchema, env)), `envelope ${i}`);
      // The fast path reads timestamps below 2^49 ms (year 19800) and topics without a byte-order mark.
      const unusual = env.kind.case === 'gossip' && (env.kind.value.timestampMs >= 2n ** 49n || env.kind.value.topic.startsWith('\uFEFF'));
      assert.equal(decodeGossipEnvelope(body) === undefined, unusual, `envelope ${i}: fast path taken or left wrongly`);
      assert.deepEqual(decodeEnvelope(body), fromBinary(EnvelopeSchema, body));
    }
  });

  it('answers damaged and random bytes exactly as protobuf-es does', () => {
    const r = rng(11);
    for (let i = 0; i < 20_000; i++) {
      const body = mutate(r, encodeEnvelope(randomEnvelope(r)));
      assertDecodesLikeProtobufEs(new Uint8Array(body));
    }
  });

  it('leaves to protobuf-es what it does not expect: a repeated field, an unknown field, a leading byte-order mark', () => {
    const gossip = create(GossipMessageSchema, { id: new Uint8Array(32).fill(1), topic: 'a', ttl: 3, payload: Uint8Array.of(9) });
    const body = Buffer.from(encodeEnvelope(create(EnvelopeSchema, { kind: { case: 'gossip', value: gossip } })));
    const inner = body.subarray(3);
    const withInner = (extra: Buffer): Buffer => Buffer.concat([Buffer.of(0xa2, 0x01, inner.length + extra.length), inner, extra]);
    // ttl again: protobuf's last one wins.
    const twice = withInner(Buffer.of(0x18, 0x07));
    assert.equal(decodeGossipEnvelope(twice), undefined);
    const last = decodeEnvelope(twice);
    assert.equal(last.kind.case === 'gossip' && last.kind.value.ttl, 7);
    // Field 15, unknown to this version: kept, and written back when relayed.
    const unknown = withInner(Buffer.of(0x78, 0x05));
    assert.equal(decodeGossipEnvelope(unknown), undefined);
    assert.deepEqual(Buffer.from(encodeEnvelope(decodeEnvelope(unknown))), unknown);
    // Two envelope fields: the last oneof case wins.
    const prune = Buffer.of(0xba, 0x01, 0x00);
    const both = Buffer.concat([body, prune]);
    assert.equal(decodeGossipEnvelope(both), undefined);
    assert.equal(decodeEnvelope(both).kind.case, 'gossipPrune');
    const bom = create(GossipMessageSchema, { topic: '\uFEFFt' });
    const bomBody = encodeEnvelope(create(EnvelopeSchema, { kind: { case: 'gossip', value: bom } }));
    assert.equal(decodeGossipEnvelope(bomBody), undefined);
    assertDecodesLikeProtobufEs(bomBody);
  });

  it('refuses what protobuf-es refuses to encode', () => {
    for (const bad of [{ ttl: -1 }, { hops: 1.5 }, { timestampMs: -1n }, { nonce: 2n ** 64n }]) {
      const env = create(EnvelopeSchema, { kind: { case: 'gossip', value: create(GossipMessageSchema, bad) } });
      assert.throws(() => toBinary(EnvelopeSchema, env));
      assert.throws(() => encodeEnvelope(env), `${JSON.stringify(bad, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    }
  });
});
