/**
 * Builds test/vectors/handshake.json with the production handshake code,
 * fixed keys and nonces, and RFC 6979 signatures from @noble/secp256k1 so
 * every byte is reproducible. Does nothing unless run as
 * `node dist/test/vectors/generate-handshake.js --write` (the test runner
 * executes every file under test/).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import * as secp from '@noble/secp256k1';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { EnvelopeSchema, type Envelope } from '../../src/gen/pheromones/wire/v1/wire_pb.js';
import { identityFromSecret } from '../../src/crypto/identity.js';
import { networkIdFor } from '../../src/crypto/network.js';
import { ephemeralKeyFromSecret } from '../../src/crypto/secp256k1.js';
import { RecordSealer } from '../../src/crypto/record-cipher.js';
import { encodePlainFrame } from '../../src/wire/plain-frame.js';
import { packInnerFrames, packedSize, recordHeader } from '../../src/wire/sealed-record.js';
import {
  initiatorOnResponse,
  initiatorStart,
  responderOnFinish,
  responderOnInit,
  type HandshakeContext,
} from '../../src/transport/handshake.js';
import type { LocalHello } from '../../src/transport/types.js';

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const label = (s: string): Uint8Array => sha256(new TextEncoder().encode(`pheromones/vectors/${s}`));

/** RFC 6979 deterministic ECDSA over sha256(message), compact, low-S. */
export function nobleSign(secret: Uint8Array) {
  return (message: Uint8Array): Uint8Array => secp.sign(sha256(message), secret, { prehash: false, lowS: true });
}

export interface VectorSide {
  static_secret: string;
  static_public: string;
  node_id: string;
  ephemeral_secret: string;
  ephemeral_public: string;
  nonce: string;
  listen_port: number;
  user_agent: string;
}

export interface RecordVector {
  /** Inner frame bodies (encoded Envelopes) packed into this record's plaintext. */
  bodies: string[];
  plaintext: string;
  counter: number;
  record: string;
}

export interface HandshakeVectors {
  description: string;
  network: string;
  network_id: number;
  protocol_version: number;
  initiator: VectorSide;
  responder: VectorSide;
  handshake_init_frame: string;
  handshake_response_frame: string;
  handshake_finish_frame: string;
  transcript_hash: string;
  shared_secret: string;
  responder_signature: string;
  initiator_signature: string;
  key_initiator_to_responder: string;
  key_responder_to_initiator: string;
  records_initiator_to_responder: RecordVector[];
  records_responder_to_initiator: RecordVector[];
}

function direct(topic: string, payload: string): Uint8Array {
  return toBinary(EnvelopeSchema, create(EnvelopeSchema, { kind: { case: 'direct', value: { topic, payload: new TextEncoder().encode(payload) } } }));
}

function ping(value: bigint): Uint8Array {
  return toBinary(EnvelopeSchema, create(EnvelopeSchema, { kind: { case: 'ping', value: { value } } }));
}

function sealRecords(key: Uint8Array, batches: Uint8Array[][]): RecordVector[] {
  const sealer = new RecordSealer(key);
  return batches.map((bodies, counter) => {
    const size = packedSize(bodies);
    const plaintext = packInnerFrames(bodies, size);
    const header = recordHeader(size);
    const [ct, tag] = sealer.seal(header, plaintext);
    return { bodies: bodies.map(hex), plaintext: hex(plaintext), counter, record: hex(Buffer.concat([header, ct, tag])) };
  });
}

export async function buildHandshakeVectors(): Promise<HandshakeVectors> {
  const network = 'vectors';
  const networkId = networkIdFor(network);
  const mk = (role: string, port: number): { ctx: HandshakeContext; side: VectorSide } => {
    const staticSecret = label(`${role}/static`);
    const ephSecret = label(`${role}/ephemeral`);
    const nonce = label(`${role}/nonce`);
    const identity = identityFromSecret(staticSecret);
    const ephemeral = ephemeralKeyFromSecret(ephSecret);
    const hello: LocalHello = {
      networkId,
      protocolVersion: 1,
      listenPort: port,
      protocols: [{ name: 'gossip', versions: [1] }],
      userAgent: `pheromones/vectors-${role}`,
    };
    return {
      ctx: { identity, hello, secrets: { ephemeral, nonce }, sign: nobleSign(staticSecret) },
      side: {
        static_secret: hex(staticSecret),
        static_public: hex(identity.publicKey),
        node_id: identity.nodeIdHex,
        ephemeral_secret: hex(ephSecret),
        ephemeral_public: hex(ephemeral.publicKey),
        nonce: hex(nonce),
        listen_port: port,
        user_agent: hello.userAgent,
      },
    };
  };
  const i = mk('initiator', 40001);
  const r = mk('responder', 40002);
  const frame = (env: Envelope): Buffer => encodePlainFrame(toBinary(EnvelopeSchema, env));

  const { envelope: init, ownHello } = initiatorStart(i.ctx);
  const { envelope: response, pending } = await responderOnInit(r.ctx, init);
  const { envelope: finish, result: iResult } = await initiatorOnResponse(i.ctx, ownHello, response, r.side.node_id);
  const rResult = await responderOnFinish(pending, finish);
  if (!iResult.transcriptHash.equals(rResult.transcriptHash)) throw new Error('transcript mismatch');
  const respSig = response.kind.case === 'handshakeResponse' ? response.kind.value.signature : new Uint8Array();
  const finSig = finish.kind.case === 'handshakeFinish' ? finish.kind.value.signature : new Uint8Array();
  const shared = secp.getSharedSecret(label('initiator/ephemeral'), secp.getPublicKey(label('responder/ephemeral'))).slice(1);

  return {
    description:
      'pheromones handshake v1 and the first two sealed records in each direction (docs/protocol.md). ' +
      'Secrets are sha256("pheromones/vectors/<role>/<what>"); signatures are RFC 6979 (deterministic). ' +
      'Regenerate: npx tsc -p tsconfig.json && node dist/test/vectors/generate-handshake.js --write',
    network,
    network_id: networkId,
    protocol_version: 1,
    initiator: i.side,
    responder: r.side,
    handshake_init_frame: hex(frame(init)),
    handshake_response_frame: hex(frame(response)),
    handshake_finish_frame: hex(frame(finish)),
    transcript_hash: hex(iResult.transcriptHash),
    shared_secret: hex(shared),
    responder_signature: hex(respSig),
    initiator_signature: hex(finSig),
    key_initiator_to_responder: hex(iResult.keys.initiatorToResponder),
    key_responder_to_initiator: hex(iResult.keys.responderToInitiator),
    records_initiator_to_responder: sealRecords(iResult.sendKey, [[direct('chat', 'hello, responder')], [ping(7n), direct('chat', 'second record, two frames')]]),
    records_responder_to_initiator: sealRecords(rResult.sendKey, [[direct('chat', 'hello, initiator')], [ping(8n), direct('', '')]]),
  };
}

if (process.argv.includes('--write')) {
  const out = fileURLToPath(new URL('../../../test/vectors/handshake.json', import.meta.url));
  writeFileSync(out, JSON.stringify(await buildHandshakeVectors(), null, 2) + '\n');
  console.log(`wrote ${out}`);
}
