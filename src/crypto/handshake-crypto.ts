import { ascii, hkdfSha256Expand, hkdfSha256Extract, sha256 } from './hash.js';

/** Everything the transcript hash covers, in order (docs/protocol.md, "Transcript"). */
export interface TranscriptInput {
  protocolVersion: number;
  networkId: number;
  initiatorStatic: Uint8Array;
  initiatorEphemeral: Uint8Array;
  initiatorNonce: Uint8Array;
  responderStatic: Uint8Array;
  responderEphemeral: Uint8Array;
  responderNonce: Uint8Array;
}

const TRANSCRIPT_LABEL = ascii('pheromones/handshake/v1');
const RESPONDER_SIG_LABEL = ascii('pheromones/sig/responder');
const INITIATOR_SIG_LABEL = ascii('pheromones/sig/initiator');
const I2R_INFO = ascii('pheromones/v1 initiator->responder');
const R2I_INFO = ascii('pheromones/v1 responder->initiator');

export function transcriptHash(t: TranscriptInput): Buffer {
  const nums = Buffer.allocUnsafe(8);
  nums.writeUInt32BE(t.protocolVersion >>> 0, 0);
  nums.writeUInt32BE(t.networkId >>> 0, 4);
  return sha256(
    TRANSCRIPT_LABEL,
    nums,
    t.initiatorStatic,
    t.initiatorEphemeral,
    t.initiatorNonce,
    t.responderStatic,
    t.responderEphemeral,
    t.responderNonce,
  );
}

export type Role = 'initiator' | 'responder';

/** The message a role signs (ECDSA hashes it once more with sha256): label || th. */
export function signedMessage(role: Role, th: Uint8Array): Buffer {
  return Buffer.concat([role === 'initiator' ? INITIATOR_SIG_LABEL : RESPONDER_SIG_LABEL, th]);
}

export interface SessionKeys {
  initiatorToResponder: Buffer;
  responderToInitiator: Buffer;
}

/** HKDF-SHA256(ikm = sharedX, salt = th) once per direction; the extract step is shared. */
export function deriveSessionKeys(sharedX: Uint8Array, th: Uint8Array): SessionKeys {
  const prk = hkdfSha256Extract(sharedX, th);
  return {
    initiatorToResponder: hkdfSha256Expand(prk, I2R_INFO, 32),
    responderToInitiator: hkdfSha256Expand(prk, R2I_INFO, 32),
  };
}
