import { createCipheriv, createDecipheriv } from 'node:crypto';
import { PheromonesError } from '../errors.js';

/** Records per direction after which the connection must be replaced (docs/protocol.md). */
export const MAX_RECORDS_PER_DIRECTION = 2 ** 32;

/** AES-256-GCM nonce: 4 zero bytes || u64 BE record counter. */
function nonceFor(buf: Buffer, counter: number): Buffer {
  buf.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  buf.writeUInt32BE(counter >>> 0, 8);
  return buf;
}

/** Thrown when a direction has used up its record counter; the connection must close. */
export class RecordLimitError extends PheromonesError {
  constructor() {
    super('resource-exhausted', 'record counter limit reached; reconnect to get fresh keys');
  }
}

/** One direction's sealing state: key plus the next record counter. */
export class RecordSealer {
  private readonly nonce = Buffer.alloc(12);
  /** `counter` is the next record's number: 0 on a new session (other values exist for tests). */
  constructor(
    private readonly key: Uint8Array,
    private counter = 0,
  ) {}

  get recordsSealed(): number {
    return this.counter;
  }

  /** Encrypts `plaintext` under AAD `header` (the record's 4 length bytes): returns [ciphertext, tag]. */
  seal(header: Uint8Array, plaintext: Uint8Array): [Buffer, Buffer] {
    const out = this.sealParts(header, [plaintext]);
    return [out[0]!, out[1]!];
  }

  /**
   * Encrypts the concatenation of `parts` without joining them first: returns
   * one ciphertext piece per part, then the tag. Saves a copy for a record
   * holding one large body (its 4-byte inner header and the body itself).
   */
  sealParts(header: Uint8Array, parts: readonly Uint8Array[]): Buffer[] {
    if (this.counter >= MAX_RECORDS_PER_DIRECTION) throw new RecordLimitError();
    const cipher = createCipheriv('aes-256-gcm', this.key, nonceFor(this.nonce, this.counter++));
    cipher.setAAD(header);
    const out: Buffer[] = [];
    for (const p of parts) out.push(cipher.update(p));
    cipher.final();
    out.push(cipher.getAuthTag());
    return out;
  }
}

/** Thrown when a record does not authenticate under the expected key and counter. */
export class RecordAuthError extends PheromonesError {
  constructor() {
    super('protocol-violation', 'sealed record failed authentication');
  }
}

export class RecordOpener {
  private readonly nonce = Buffer.alloc(12);
  /** `counter` is the next record's number: 0 on a new session (other values exist for tests). */
  constructor(
    private readonly key: Uint8Array,
    private counter = 0,
  ) {}

  get recordsOpened(): number {
    return this.counter;
  }

  /** Decrypts and authenticates one record; throws RecordAuthError on any mismatch. */
  open(header: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Buffer {
    if (this.counter >= MAX_RECORDS_PER_DIRECTION) throw new RecordLimitError();
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonceFor(this.nonce, this.counter++), {
      authTagLength: 16,
    });
    decipher.setAAD(header);
    const pt = decipher.update(ciphertext);
    decipher.setAuthTag(tag);
    try {
      decipher.final();
    } catch {
      throw new RecordAuthError();
    }
    return pt;
  }
}
