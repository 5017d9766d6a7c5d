import type { Envelope } from '../gen/pheromones/wire/v1/wire_pb.js';
import type { DisconnectCause } from './types.js';
import type { Peer } from './peer.js';

/** The name of one Envelope oneof case, e.g. 'gossip'. */
export type EnvelopeCase = NonNullable<Envelope['kind']['case']>;

/**
 * A protocol spoken on a session. It is advertised by name and versions in
 * the handshake; it owns the Envelope cases listed in `envelopes`, and a peer
 * that sends one of them without having advertised the protocol is dropped
 * for a protocol violation.
 */
export interface Protocol {
  readonly name: string;
  /** Supported versions, highest preferred. */
  readonly versions: readonly number[];
  readonly envelopes: readonly EnvelopeCase[];
  /** The session is up and both sides speak this protocol. */
  onOpen?(peer: Peer): void;
  /**
   * One message of this protocol. Throwing (or rejecting with) a
   * PheromonesError of kind 'protocol-violation' drops and scores the peer:
   * only for what the peer provably sent. Kind 'resource-exhausted' (one of
   * our own limits) drops it without scoring.
   */
  onMessage(peer: Peer, env: Envelope): void | Promise<void>;
  /** The session closed; called once for every protocol onOpen was called for. */
  onClose?(peer: Peer, cause: DisconnectCause): void;
}

/** Session control, handled by the peer layer itself and never by a protocol. */
export const CONTROL_CASES: ReadonlySet<EnvelopeCase> = new Set<EnvelopeCase>([
  'handshakeInit',
  'handshakeResponse',
  'handshakeFinish',
  'ping',
  'pong',
  'disconnect',
]);
