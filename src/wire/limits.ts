/** Wire-level sizes (docs/protocol.md, "Limits"). */

/** Default largest frame body accepted or sent. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Plain frame header: u32 BE body length + sha256(body). */
export const PLAIN_HEADER_BYTES = 4 + 32;

/** Sealed record header: u32 BE (ciphertext + tag) length. */
export const RECORD_HEADER_BYTES = 4;

/** AES-256-GCM tag length. */
export const RECORD_TAG_BYTES = 16;

/** Inner frame header inside a record's plaintext: u32 BE body length. */
export const INNER_HEADER_BYTES = 4;

/** Bodies queued together are coalesced into records of at most this much plaintext. */
export const RECORD_PLAINTEXT_TARGET = 64 * 1024;

/** Largest record length field a receiver accepts for a given frame limit. */
export function maxRecordLength(maxFrameBytes: number): number {
  return maxFrameBytes + INNER_HEADER_BYTES + RECORD_TAG_BYTES;
}

/** Smallest valid record length field: one empty inner frame plus the tag. */
export const MIN_RECORD_LENGTH = INNER_HEADER_BYTES + RECORD_TAG_BYTES;
