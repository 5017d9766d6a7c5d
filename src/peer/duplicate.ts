import type { Direction } from '../transport/types.js';

/**
 * Which of our connections to `remoteId` survives when there are two: the
 * one dialled by the lower node id. Both ends compute the same connection,
 * whatever order the two handshakes finish in: for us the dialler of an
 * outbound connection is us, of an inbound one the remote.
 */
export function preferredDirection(localId: string, remoteId: string): Direction {
  return localId < remoteId ? 'outbound' : 'inbound';
}

/**
 * True when a newly established connection should replace the existing one.
 * Two connections in the same direction come from one dialler dialling
 * twice (typically after a restart the old one has not noticed yet), so the
 * newer wins.
 */
export function newConnectionWins(localId: string, remoteId: string, existing: Direction, incoming: Direction): boolean {
  if (existing === incoming) return true;
  return incoming === preferredDirection(localId, remoteId);
}
