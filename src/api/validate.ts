/** Input checks shared by the handlers; each failure names the request field. */
import { parseAddress } from '../peer/address.js';
import { PheromonesError } from '../errors.js';
import { invalidArgument } from './status.js';

export const DEFAULT_TOPIC = 'chat';
export const MAX_TOPIC_BYTES = 128;
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

export function hexId(field: string, value: string): string {
  if (value === '') throw invalidArgument(field, 'required');
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw invalidArgument(field, `"${truncate(value)}" is not 64 hex characters`);
  return value.toLowerCase();
}

/** An empty topic means the default; otherwise 1..128 bytes without control characters. */
export function topic(field: string, value: string, opts: { emptyMeans: string | undefined }): string | undefined {
  if (value === '') return opts.emptyMeans;
  if (Buffer.byteLength(value, 'utf8') > MAX_TOPIC_BYTES) throw invalidArgument(field, `longer than ${MAX_TOPIC_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalidArgument(field, 'contains control characters');
  return value;
}

export function payload(field: string, value: Uint8Array): Uint8Array {
  if (value.byteLength > MAX_PAYLOAD_BYTES) throw invalidArgument(field, `larger than ${MAX_PAYLOAD_BYTES} bytes`);
  return value;
}

export function address(field: string, value: string): string {
  if (value === '') throw invalidArgument(field, 'required (host:port)');
  try {
    parseAddress(value);
  } catch (err) {
    if (err instanceof PheromonesError) throw invalidArgument(field, err.message);
    throw err;
  }
  return value.trim();
}

export function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
