import { PheromonesError } from '../errors.js';

/**
 * The passphrase did not open the key: the GCM tag did not verify. A
 * subclass rather than a message match so callers (the CLI re-prompt, tests)
 * can tell it apart from a damaged file.
 */
export class WrongPassphraseError extends PheromonesError {
  readonly keyName: string;
  constructor(keyName: string, options?: { cause?: unknown }) {
    super('invalid-argument', `wrong passphrase for key ${keyName}`, options);
    this.keyName = keyName;
  }
}

/** A keystore file that is not a well-formed pheromones key (edited, truncated, another tool's). */
export class CorruptKeyFileError extends PheromonesError {
  readonly path: string;
  constructor(path: string, why: string, options?: { cause?: unknown }) {
    super('failed-precondition', `keystore file ${path} is not a valid pheromones key: ${why}`, options);
    this.path = path;
  }
}
