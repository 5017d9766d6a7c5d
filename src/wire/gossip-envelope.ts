import { isUtf8 } from 'node:buffer';
import type {
  Envelope,
  GossipGraft,
  GossipIHave,
  GossipMessage,
  GossipPrune,
} from '../gen/pheromones/wire/v1/wire_pb.js';
import {
  ExactWriter,
  LenientReader,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  lenFieldSize,
  tag,
  varint64Size,
  varintSize,
} from './proto-bytes.js';

/**
 * The gossip envelopes (a node relays hundreds a second to each of its
 * links) encoded and decoded by hand, identically to protobuf-es; every other
 * envelope, and any gossip envelope the fast path does not expect (unknown
 * or repeated fields, a varint too long, bad UTF-8...), goes through
 * protobuf-es, which keeps the last word on what is valid.
 */

/** Envelope field numbers of the gossip cases (wire.proto). */
const FIELD = { gossip: 20, gossipIhave: 21, gossipGraft: 22, gossipPrune: 23 } as const;

const TYPE = {
  envelope: 'pheromones.wire.v1.Envelope',
  gossip: 'pheromones.wire.v1.GossipMessage',
  gossipIhave: 'pheromones.wire.v1.GossipIHave',
  gossipGraft: 'pheromones.wire.v1.GossipGraft',
  gossipPrune: 'pheromones.wire.v1.GossipPrune',
} as const;

const MAX_UINT32 = 0xffffffff;
const MAX_UINT64 = 2n ** 64n - 1n;

/** An envelope holding `kind` (a complete message), as protobuf-es's create() would make it, without its reflection. */
export function envelope(kind: Envelope['kind']): Envelope {
  return { $typeName: TYPE.envelope, kind };
}

/** Bytes of a fast-path envelope, or undefined for any case this file does not encode. */
export function encodeGossipEnvelope(env: Envelope): Uint8Array | undefined {
  if (env.$unknown !== undefined && env.$unknown.length > 0) return undefined;
  const kind = env.kind;
  switch (kind.case) {
    case 'gossip':
      return kind.value.$unknown?.length || !inRange(kind.value) ? undefined : encodeGossip(kind.value);
    case 'gossipIhave':
    case 'gossipGraft':
      return kind.value.$unknown?.length ? undefined : encodeIds(FIELD[kind.case], kind.value.ids, kind.value.idPrefixes);
    case 'gossipPrune':
      return kind.value.$unknown?.length ? undefined : PRUNE;
    default:
      return undefined;
  }
}

function envelopeWriter(field: number, innerSize: number, kept = false): ExactWriter {
  const w = new ExactWriter(varintSize(tag(field, WIRE_LEN)) + varintSize(innerSize) + innerSize, kept);
  return w.varint(tag(field, WIRE_LEN)).varint(innerSize);
}

const PRUNE = envelopeWriter(FIELD.gossipPrune, 0).finish();

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_UINT32;
}

/** Values protobuf-es refuses to encode are left to it, so the error is its own. */
function inRange(m: GossipMessage): boolean {
  return (
    isUint32(m.ttl) &&
    isUint32(m.hops) &&
    m.timestampMs >= 0n &&
    m.timestampMs <= MAX_UINT64 &&
    m.nonce >= 0n &&
    m.nonce <= MAX_UINT64 &&
    m.pathWeights.every(isUint32)
  );
}

function packedSize(values: readonly number[]): number {
  let n = 0;
  for (const v of values) n += varintSize(v);
  return n;
}

function encodeGossip(m: GossipMessage): Uint8Array {
  const topicLength = Buffer.byteLength(m.topic, 'utf8');
  let size = 0;
  if (m.id.length > 0) size += lenFieldSize(m.id.length);
  if (topicLength > 0) size += lenFieldSize(topicLength);
  if (m.ttl !== 0) size += 1 + varintSize(m.ttl);
  if (m.hops !== 0) size += 1 + varintSize(m.hops);
  if (m.origin.length > 0) size += lenFieldSize(m.origin.length);
  if (m.timestampMs !== 0n) size += 1 + varint64Size(m.timestampMs);
  if (m.payload.length > 0) size += lenFieldSize(m.payload.length);
  if (m.nonce !== 0n) size += 1 + 8;
  const weightsSize = packedSize(m.pathWeights);
  if (weightsSize > 0) size += 1 + varintSize(weightsSize) + weightsSize;
  // Relay encodings stay in the graft cache for seconds.
  const w = envelopeWriter(FIELD.gossip, size, true);
  if (m.id.length > 0) w.varint(tag(1, WIRE_LEN)).bytes(m.id);
  if (topicLength > 0) w.varint(tag(2, WIRE_LEN)).utf8(m.topic, topicLength);
  if (m.ttl !== 0) w.varint(tag(3, WIRE_VARINT)).varint(m.ttl);
  if (m.hops !== 0) w.varint(tag(4, WIRE_VARINT)).varint(m.hops);
  if (m.origin.length > 0) w.varint(tag(5, WIRE_LEN)).bytes(m.origin);
  if (m.timestampMs !== 0n) w.varint(tag(6, WIRE_VARINT)).varint64(m.timestampMs);
  if (m.payload.length > 0) w.varint(tag(7, WIRE_LEN)).bytes(m.payload);
  if (m.nonce !== 0n) w.varint(tag(8, WIRE_FIXED64)).fixed64(m.nonce);
  if (weightsSize > 0) {
    w.varint(tag(9, WIRE_LEN)).varint(weightsSize);
    for (const v of m.pathWeights) w.varint(v);
  }
  return w.finish();
}

/** GossipIHave and GossipGraft: repeated full ids (field 1), then the packed prefixes (field 2). */
function encodeIds(field: number, ids: readonly Uint8Array[], prefixes: Uint8Array): Uint8Array {
  let size = 0;
  for (const id of ids) size += lenFieldSize(id.length);
  if (prefixes.length > 0) size += lenFieldSize(prefixes.length);
  const w = envelopeWriter(field, size);
  for (const id of ids) w.varint(tag(1, WIRE_LEN)).bytes(id);
  if (prefixes.length > 0) w.varint(tag(2, WIRE_LEN)).bytes(prefixes);
  return w.finish();
}

/**
 * The envelope in `body` when it is one of the gossip cases in the form
 * this node and protobuf-es write; undefined means "ask protobuf-es".
 * Byte fields are views into `body`, as protobuf-es's are.
 */
export function decodeGossipEnvelope(body: Uint8Array): Envelope | undefined {
  const r = new LenientReader(body);
  const key = r.varint();
  if (key === undefined || (key & 7) !== WIRE_LEN) return undefined;
  const field = key >>> 3;
  const inner = r.bytes();
  // Exactly one field: a second one (a repeated oneof, or any other) is protobuf-es's to merge.
  if (inner === undefined || !r.done) return undefined;
  switch (field) {
    case FIELD.gossip: {
      const value = decodeGossip(inner);
      return value && envelope({ case: 'gossip', value });
    }
    case FIELD.gossipIhave: {
      const v = decodeIds(inner);
      return v && envelope({ case: 'gossipIhave', value: { $typeName: TYPE.gossipIhave, ...v } satisfies GossipIHave });
    }
    case FIELD.gossipGraft: {
      const v = decodeIds(inner);
      return v && envelope({ case: 'gossipGraft', value: { $typeName: TYPE.gossipGraft, ...v } satisfies GossipGraft });
    }
    case FIELD.gossipPrune:
      return inner.length === 0 ? envelope({ case: 'gossipPrune', value: { $typeName: TYPE.gossipPrune } satisfies GossipPrune }) : undefined;
    default:
      return undefined;
  }
}

/** Full ids, then at most one prefixes field, in that order (any other form is protobuf-es's). */
function decodeIds(inner: Uint8Array): { ids: Uint8Array[]; idPrefixes: Uint8Array } | undefined {
  const r = new LenientReader(inner);
  const ids: Uint8Array[] = [];
  let idPrefixes: Uint8Array = EMPTY;
  while (!r.done) {
    const key = r.varint();
    if (idPrefixes !== EMPTY || (key !== tag(1, WIRE_LEN) && key !== tag(2, WIRE_LEN))) return undefined;
    const bytes = r.bytes();
    if (bytes === undefined) return undefined;
    if (key === tag(1, WIRE_LEN)) ids.push(bytes);
    // An empty field 2 is not what this node writes: protobuf-es decides.
    else if (bytes.length === 0) return undefined;
    else idPrefixes = bytes;
  }
  return { ids, idPrefixes };
}

function decodeGossip(inner: Uint8Array): GossipMessage | undefined {
  const m: GossipMessage = {
    $typeName: TYPE.gossip,
    id: EMPTY,
    topic: '',
    ttl: 0,
    hops: 0,
    origin: EMPTY,
    timestampMs: 0n,
    payload: EMPTY,
    nonce: 0n,
    pathWeights: [],
  };
  const r = new LenientReader(inner);
  let seen = 0;
  while (!r.done) {
    const key = r.varint();
    if (key === undefined) return undefined;
    const field = key >>> 3;
    // Each field at most once (protobuf's last-one-wins merging is left to protobuf-es).
    if (field < 1 || field > 9 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    const wire = key & 7;
    switch (field) {
      case 1:
      case 5:
      case 7: {
        const b = wire === WIRE_LEN ? r.bytes() : undefined;
        if (b === undefined) return undefined;
        if (field === 1) m.id = b;
        else if (field === 5) m.origin = b;
        else m.payload = b;
        break;
      }
      case 2: {
        const b = wire === WIRE_LEN ? r.bytes() : undefined;
        // protobuf-es's decoder (a fatal TextDecoder) also drops a leading byte-order mark.
        if (b === undefined || !isUtf8(b) || (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf)) return undefined;
        m.topic = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
        break;
      }
      case 3:
      case 4: {
        const n = wire === WIRE_VARINT ? r.varint() : undefined;
        if (n === undefined || n > MAX_UINT32) return undefined;
        if (field === 3) m.ttl = n;
        else m.hops = n;
        break;
      }
      case 6: {
        const n = wire === WIRE_VARINT ? r.varint() : undefined;
        if (n === undefined) return undefined;
        m.timestampMs = BigInt(n);
        break;
      }
      case 8: {
        const n = wire === WIRE_FIXED64 ? r.fixed64() : undefined;
        if (n === undefined) return undefined;
        m.nonce = n;
        break;
      }
      case 9: {
        // Only the packed form (what protobuf-es writes); the unpacked one is left to it.
        const b = wire === WIRE_LEN ? r.bytes() : undefined;
        if (b === undefined) return undefined;
        const values = new LenientReader(b);
        while (!values.done) {
          const n = values.varint();
          if (n === undefined || n > MAX_UINT32) return undefined;
          m.pathWeights.push(n);
        }
        break;
      }
    }
  }
  return m;
}

const EMPTY = new Uint8Array(0);
