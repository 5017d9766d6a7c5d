import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { EnvelopeSchema, type Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import { BodyDecodeError } from './errors.js';

export function encodeEnvelope(env: Envelope): Uint8Array {
  return toBinary(EnvelopeSchema, env);
}

/** Decodes a frame body; anything that is not an Envelope becomes a BodyDecodeError. */
export function decodeEnvelope(body: Uint8Array): Envelope {
  try {
    return fromBinary(EnvelopeSchema, body);
  } catch (err) {
    throw new BodyDecodeError(err);
  }
}
