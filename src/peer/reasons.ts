import { DisconnectReason } from '../gen/pheromones/wire/v1/wire_pb.js';
import type { DisconnectCause } from './types.js';

const CAUSES: Record<DisconnectReason, DisconnectCause> = {
  [DisconnectReason.UNSPECIFIED]: 'connection-lost',
  [DisconnectReason.REQUESTED]: 'requested',
  [DisconnectReason.DUPLICATE]: 'duplicate',
  [DisconnectReason.SELF]: 'self',
  [DisconnectReason.WRONG_NETWORK]: 'wrong-network',
  [DisconnectReason.INCOMPATIBLE_VERSION]: 'incompatible-version',
  [DisconnectReason.HANDSHAKE_FAILED]: 'handshake-failed',
  [DisconnectReason.PROTOCOL_VIOLATION]: 'protocol-violation',
  [DisconnectReason.TIMEOUT]: 'timeout',
  [DisconnectReason.TOO_MANY_PEERS]: 'too-many-peers',
  [DisconnectReason.SLOW_READER]: 'slow-reader',
  [DisconnectReason.BANNED]: 'banned',
  [DisconnectReason.CORRUPT_RECORD]: 'corrupt-record',
};

/** The wire reason as the cause reported in peer events; unknown codes count as a lost connection. */
export function causeOf(reason: DisconnectReason): DisconnectCause {
  return CAUSES[reason] ?? 'connection-lost';
}
