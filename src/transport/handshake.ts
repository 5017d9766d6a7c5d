import { create } from '@bufbuild/protobuf';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { PheromonesError, type ErrorKind } from '../errors.js';
import {
  DisconnectReason,
  DisconnectSchema,
  EnvelopeSchema,
  NodeHelloSchema,
  type Envelope,
  type NodeHello,
} from '../gen/pheromones/wire/v1/wire_pb.js';
import { type NodeIdentity, nodeIdOf } from '../crypto/identity.js';
import {
  InvalidKeyError,
  PUBLIC_KEY_BYTES,
  ecdhSharedX,
  generateEphemeralKey,
  isValidPublicKey,
  signMessage,
  verifyMessage,
  type EphemeralKey,
} from '../crypto/secp256k1.js';
import { deriveSessionKeys, signedMessage, transcriptHash, type SessionKeys } from '../crypto/handshake-crypto.js';
import type { LocalHello } from './types.js';

/**
 * The station-to-station handshake as pure steps (docs/protocol.md,
 * "Handshake"): no sockets, randomness and signer injected, so the test
 * vectors run exactly this code.
 */

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [PROTOCOL_VERSION];
export const NONCE_BYTES = 32;

function kindFor(reason: DisconnectReason): ErrorKind {
  switch (reason) {
    case DisconnectReason.WRONG_NETWORK:
      return 'wrong-network';
    case DisconnectReason.TIMEOUT:
      return 'timeout';
    default:
      return 'handshake-failed';
  }
}

/**
 * A failed handshake. `reason` is what is (or was, when `remote`) sent to the
 * other side in a plain-frame Disconnect.
 */
export class HandshakeError extends PheromonesError {
  readonly reason: DisconnectReason;
  readonly remote: boolean;
  constructor(reason: DisconnectReason, message: string, options?: { remote?: boolean; cause?: unknown }) {
    super(kindFor(reason), message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.remote = options?.remote ?? false;
  }
}

/** Per-handshake randomness, injectable for test vectors. */
export interface HandshakeSecrets {
  ephemeral: EphemeralKey;
  nonce: Uint8Array;
}

/** A fresh ephemeral key and nonce. */
export async function freshSecrets(): Promise<HandshakeSecrets> {
  return { ephemeral: generateEphemeralKey(), nonce: randomBytes(NONCE_BYTES) };
}

export interface HandshakeContext {
  identity: NodeIdentity;
  hello: LocalHello;
  secrets: HandshakeSecrets;
  /** Signs a message (ECDSA over its sha256); defaults to signMessage with the identity key. */
  sign?: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>;
}

export interface HandshakeResult {
  remoteHello: NodeHello;
  remoteStatic: Uint8Array;
  remoteId: string;
  transcriptHash: Buffer;
  keys: SessionKeys;
  /** Key this side seals with, and the one it opens with. */
  sendKey: Buffer;
  receiveKey: Buffer;
}

export function buildHello(ctx: HandshakeContext): NodeHello {
  const h = ctx.hello;
  return create(NodeHelloSchema, {
    protocolVersion: h.protocolVersion,
    networkId: h.networkId >>> 0,
    staticPublicKey: ctx.identity.publicKey,
    ephemeralPublicKey: ctx.secrets.ephemeral.publicKey,
    nonce: ctx.secrets.nonce,
    listenPort: h.listenPort,
    protocols: h.protocols.map((p) => ({ name: p.name, versions: [...p.versions] })),
    userAgent: h.userAgent,
  });
}

export function disconnectEnvelope(reason: DisconnectReason, detail: string): Envelope {
  return create(EnvelopeSchema, {
    kind: { case: 'disconnect', value: create(DisconnectSchema, { reason, detail: detail.slice(0, 200) }) },
  });
}

/**
 * A hello that passed checkHello: the static key is a compressed point on the
 * curve; the ephemeral key has the compressed form and is checked to be on the
 * curve by the ECDH that uses it (keysFor), which parses it anyway.
 */
export interface CheckedHello {
  hello: NodeHello;
  staticKey: Uint8Array;
  ephemeralKey: Uint8Array;
}

const EPHEMERAL_KEY_INVALID = 'peer ephemeral public key is not a 33-byte compressed secp256k1 point';

/** Checks a received hello against our own; throws HandshakeError naming the first problem. */
export function checkHello(hello: NodeHello | undefined, ctx: HandshakeContext): CheckedHello {
  const fail = (reason: DisconnectReason, msg: string): never => {
    throw new HandshakeError(reason, msg);
  };
  if (hello === undefined) return fail(DisconnectReason.HANDSHAKE_FAILED, 'handshake message carries no hello');
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(hello.protocolVersion)) {
    fail(
      DisconnectReason.INCOMPATIBLE_VERSION,
      `peer speaks protocol version ${hello.protocolVersion}; this node supports ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
    );
  }
  if (hello.networkId >>> 0 !== ctx.hello.networkId >>> 0) {
    fail(
      DisconnectReason.WRONG_NETWORK,
      `peer is on network 0x${(hello.networkId >>> 0).toString(16).padStart(8, '0')}, ` +
        `this node on 0x${(ctx.hello.networkId >>> 0).toString(16).padStart(8, '0')}`,
    );
  }
  const staticKey = hello.staticPublicKey;
  if (!isValidPublicKey(staticKey)) {
    return fail(DisconnectReason.HANDSHAKE_FAILED, 'peer static public key is not a 33-byte compressed secp256k1 point');
  }
  const ephemeralKey = hello.ephemeralPublicKey;
  if (ephemeralKey.length !== PUBLIC_KEY_BYTES || (ephemeralKey[0] !== 2 && ephemeralKey[0] !== 3)) {
    return fail(DisconnectReason.HANDSHAKE_FAILED, EPHEMERAL_KEY_INVALID);
  }
  if (hello.nonce.length !== NONCE_BYTES) {
    fail(DisconnectReason.HANDSHAKE_FAILED, `peer nonce is ${hello.nonce.length} bytes, expected ${NONCE_BYTES}`);
  }
  if (timingSafeEqual(hello.staticPublicKey, ctx.identity.publicKey)) {
    fail(DisconnectReason.SELF, 'peer is this node itself');
  }
  return { hello, staticKey, ephemeralKey };
}

function expect<C extends NonNullable<Envelope['kind']['case']>>(
  env: Envelope,
  kase: C,
): Extract<Envelope['kind'], { case: C }>['value'] {
  if (env.kind.case === 'disconnect') {
    const d = env.kind.value;
    throw new HandshakeError(
      d.reason,
      `peer ended the handshake: ${DisconnectReason[d.reason] ?? d.reason}${d.detail ? ` (${d.detail})` : ''}`,
      { remote: true },
    );
  }
  if (env.kind.case !== kase) {
    throw new HandshakeError(
      DisconnectReason.HANDSHAKE_FAILED,
      `expected ${kase}, got ${env.kind.case ?? 'an empty envelope'}`,
    );
  }
  return env.kind.value as never;
}

async function sign(ctx: HandshakeContext, message: Uint8Array): Promise<Uint8Array> {
  return ctx.sign ? ctx.sign(message) : signMessage(ctx.identity.privateKey, message);
}

function keysFor(
  ctx: HandshakeContext,
  role: 'initiator' | 'responder',
  own: NodeHello,
  checked: CheckedHello,
): { th: Buffer; keys: SessionKeys } {
  const remote = checked.hello;
  const [i, r] = role === 'initiator' ? [own, remote] : [remote, own];
  const th = transcriptHash({
    protocolVersion: PROTOCOL_VERSION,
    networkId: ctx.hello.networkId,
    initiatorStatic: i.staticPublicKey,
    initiatorEphemeral: i.ephemeralPublicKey,
    initiatorNonce: i.nonce,
    responderStatic: r.staticPublicKey,
    responderEphemeral: r.ephemeralPublicKey,
    responderNonce: r.nonce,
  });
  let shared: Buffer;
  try {
    shared = ecdhSharedX(ctx.secrets.ephemeral, checked.ephemeralKey);
  } catch (err) {
    if (err instanceof InvalidKeyError) throw new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, EPHEMERAL_KEY_INVALID);
    throw err;
  }
  return { th, keys: deriveSessionKeys(shared, th) };
}

function result(
  role: 'initiator' | 'responder',
  remote: NodeHello,
  th: Buffer,
  keys: SessionKeys,
): HandshakeResult {
  return {
    remoteHello: remote,
    remoteStatic: remote.staticPublicKey,
    remoteId: nodeIdOf(remote.staticPublicKey).toString('hex'),
    transcriptHash: th,
    keys,
    sendKey: role === 'initiator' ? keys.initiatorToResponder : keys.responderToInitiator,
    receiveKey: role === 'initiator' ? keys.responderToInitiator : keys.initiatorToResponder,
  };
}

/** Step 1 (initiator): the HandshakeInit envelope. */
export function initiatorStart(ctx: HandshakeContext): { envelope: Envelope; ownHello: NodeHello } {
  const ownHello = buildHello(ctx);
  return { envelope: create(EnvelopeSchema, { kind: { case: 'handshakeInit', value: { hello: ownHello } } }), ownHello };
}

export interface ResponderPending {
  remote: NodeHello;
  th: Buffer;
  keys: SessionKeys;
  remoteKey: Uint8Array;
}

/** Step 2 (responder): checks the init, answers with hello + signature. */
export async function responderOnInit(
  ctx: HandshakeContext,
  env: Envelope,
): Promise<{ envelope: Envelope; pending: ResponderPending }> {
  const checked = checkHello(expect(env, 'handshakeInit').hello, ctx);
  const remote = checked.hello;
  const ownHello = buildHello(ctx);
  const { th, keys } = keysFor(ctx, 'responder', ownHello, checked);
  const signature = await sign(ctx, signedMessage('responder', th));
  return {
    envelope: create(EnvelopeSchema, {
      kind: { case: 'handshakeResponse', value: { hello: ownHello, signature } },
    }),
    pending: { remote, th, keys, remoteKey: checked.staticKey },
  };
}

/** Step 3 (initiator): checks the response and its signature, answers with its own signature. */
export async function initiatorOnResponse(
  ctx: HandshakeContext,
  ownHello: NodeHello,
  env: Envelope,
  expectedNodeId?: string,
): Promise<{ envelope: Envelope; result: HandshakeResult }> {
  const resp = expect(env, 'handshakeResponse');
  const checked = checkHello(resp.hello, ctx);
  const remote = checked.hello;
  const remoteId = nodeIdOf(remote.staticPublicKey).toString('hex');
  if (expectedNodeId !== undefined && remoteId !== expectedNodeId.toLowerCase()) {
    throw new HandshakeError(
      DisconnectReason.HANDSHAKE_FAILED,
      `peer has node id ${remoteId}, expected ${expectedNodeId.toLowerCase()}`,
    );
  }
  const { th, keys } = keysFor(ctx, 'initiator', ownHello, checked);
  if (!verifyMessage(checked.staticKey, signedMessage('responder', th), resp.signature)) {
    throw new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'responder signature does not verify');
  }
  const signature = await sign(ctx, signedMessage('initiator', th));
  return {
    envelope: create(EnvelopeSchema, { kind: { case: 'handshakeFinish', value: { signature } } }),
    result: result('initiator', remote, th, keys),
  };
}

/** Step 4 (responder): checks the initiator's signature. */
export async function responderOnFinish(pending: ResponderPending, env: Envelope): Promise<HandshakeResult> {
  const fin = expect(env, 'handshakeFinish');
  if (!verifyMessage(pending.remoteKey, signedMessage('initiator', pending.th), fin.signature)) {
    throw new HandshakeError(DisconnectReason.HANDSHAKE_FAILED, 'initiator signature does not verify');
  }
  return result('responder', pending.remote, pending.th, pending.keys);
}
