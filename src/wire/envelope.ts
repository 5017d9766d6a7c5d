import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { EnvelopeSchema, type Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import { BodyDecodeError } from './errors.js';
import { decodeGossipEnvelope, encodeGossipEnvelope } from './gossip-envelope.js';

export { envelope } from './gossip-envelope.js';

/** The one way to turn an envelope into a frame body (gossip by hand, the rest by protobuf-es). */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return encodeGossipEnvelope(env) ?? toBinary(EnvelopeSchema, env);
}

/** Decodes a frame body; anything that is not an Envelope becomes a BodyDecodeError. */
export function decodeEnvelope(body: Uint8Array): Envelope {
  try {
    return decodeGossipEnvelope(body) ?? fromBinary(EnvelopeSchema, body);
  } catch (err) {
    throw new BodyDecodeError(err);
  }
}
