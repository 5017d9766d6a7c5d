/**
 * The error base every layer builds on. `kind` is what callers branch on
 * (the gRPC edge maps it to a status code, the CLI to a one-line message);
 * the message is written for the person who has to act on it.
 */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'unavailable'
  | 'timeout'
  | 'refused'
  | 'wrong-network'
  | 'handshake-failed'
  | 'protocol-violation'
  | 'resource-exhausted'
  | 'internal';

export class PheromonesError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}
