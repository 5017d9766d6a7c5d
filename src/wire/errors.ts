import { PheromonesError } from '../errors.js';

/** A frame or record announces more bytes than the limit; nothing was allocated for it. */
export class FrameTooLargeError extends PheromonesError {
  readonly length: number;
  readonly limit: number;
  constructor(length: number, limit: number, what = 'frame') {
    super('protocol-violation', `${what} of ${length} bytes exceeds the limit of ${limit} bytes`);
    this.length = length;
    this.limit = limit;
  }
}

/** A buffer decoded in one shot ends before the frame it starts is complete. */
export class TruncatedFrameError extends PheromonesError {
  constructor(have: number, need: number) {
    super('protocol-violation', `frame truncated: ${have} bytes present, ${need} needed`);
  }
}

/** A plain frame's sha256 does not match its body. */
export class FrameHashMismatchError extends PheromonesError {
  constructor() {
    super('protocol-violation', 'frame body does not match its sha256');
  }
}

/** A frame body is not a valid Envelope. */
export class BodyDecodeError extends PheromonesError {
  constructor(cause: unknown) {
    super('protocol-violation', `frame body is not a valid Envelope: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** A record's length field is below the minimum, or an inner frame overruns its record. */
export class MalformedRecordError extends PheromonesError {
  constructor(message: string) {
    super('protocol-violation', message);
  }
}
