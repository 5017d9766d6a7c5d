import { status, type StatusObject } from '@grpc/grpc-js';
import { PheromonesError, type ErrorKind } from '../errors.js';

/** The one place a PheromonesError kind becomes a gRPC status code. */
const CODE_BY_KIND: Record<ErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'failed-precondition': status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  timeout: status.DEADLINE_EXCEEDED,
  refused: status.UNAVAILABLE,
  'wrong-network': status.FAILED_PRECONDITION,
  'handshake-failed': status.FAILED_PRECONDITION,
  'protocol-violation': status.FAILED_PRECONDITION,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  internal: status.INTERNAL,
};

/**
 * Turn whatever a handler threw into the status sent to the client. Only
 * PheromonesErrors carry their message out; anything else is a bug, reported
 * as INTERNAL without details (they go to the log instead).
 */
export function toStatus(err: unknown): Pick<StatusObject, 'code' | 'details'> & { unexpected: boolean } {
  if (err instanceof PheromonesError) {
    return { code: CODE_BY_KIND[err.kind], details: err.message, unexpected: err.kind === 'internal' };
  }
  return { code: status.INTERNAL, details: 'internal error (see the node log)', unexpected: true };
}

/** Shorthand for the validation failures every handler raises: the message names the field. */
export function invalidArgument(field: string, problem: string): PheromonesError {
  return new PheromonesError('invalid-argument', `${field}: ${problem}`);
}
