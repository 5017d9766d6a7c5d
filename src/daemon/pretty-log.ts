import { PinoPretty } from 'pino-pretty';

/**
 * One readable line per pino record, by pino-pretty: "[HH:MM:ss.l] LEVEL:
 * msg (cause: detail): error key=value ...". Loaded only when a log is
 * pretty (it costs every start that imports it a few hundred milliseconds).
 */

/** Keys the line itself shows (time, level, message) or that say nothing to a reader. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err', 'cause', 'reason', 'detail']);

/** Hex ids and hashes longer than this are cut to their first 16 digits, as the CLI tables do. */
const LONG_HEX = /^[0-9a-f]{40,}$/;

function showValue(v: unknown): string {
  if (typeof v === 'string') {
    if (LONG_HEX.test(v)) return `${v.slice(0, 16)}…`;
    return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  }
  return JSON.stringify(v) ?? String(v);
}

/**
 * "msg (cause: detail): error key=value ...": why something happened sits
 * next to what happened ("peer disconnected (banned)"), the other fields
 * follow as key=value so the line stays one line without JSON braces.
 */
function messageLine(log: Record<string, unknown>, paint: (s: string) => string): string {
  const why = [log.cause ?? log.reason, log.detail].filter((v) => typeof v === 'string' && v !== '').join(': ');
  const err = log.err as { message?: unknown } | undefined;
  const errText = err !== null && typeof err === 'object' && typeof err.message === 'string' ? `: ${err.message}` : '';
  const fields = Object.entries(log)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${showValue(v)}`);
  return `${String(log.msg ?? '')}${why ? ` (${why})` : ''}${errText}${fields.length > 0 ? ` ${paint(fields.join(' '))}` : ''}`;
}

/** A formatter from one pino JSON line to its pretty line (with its newline); `colorize` for a terminal. */
export function prettyFormatter(colorize: boolean): (json: string) => string {
  return PinoPretty.prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // Everything the line shows comes from messageLine; no multi-line object or stack below it.
    hideObject: true,
    messageFormat: (log, _key, _label, { colors }) => messageLine(log, colorize ? colors.gray : (s) => s),
  });
}

/** The uncoloured pretty line for one pino JSON line. */
export const formatPrettyLine = prettyFormatter(false);
