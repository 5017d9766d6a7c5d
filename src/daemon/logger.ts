import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { LogFormat, LogLevel } from './flags.js';

/**
 * Logs go to standard error so standard output carries only chat lines.
 * `json` is pino's own output (one object per line: what tests and log
 * collectors read); `pretty` is one readable line per event, written by
 * pino-pretty; `auto` picks pretty on a terminal and JSON anywhere else.
 */
export function createDaemonLogger(level: LogLevel, format: LogFormat = 'auto', stderr: NodeJS.WriteStream = process.stderr): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && stderr.isTTY === true);
  // Synchronous so the last lines before exit are not lost.
  const fd2 = pino.destination({ fd: 2, sync: true });
  let destination: DestinationStream = fd2;
  if (pretty) {
    // pino-pretty's formatter called in line, not its stream: that one is asynchronous and
    // would drop the fatal line written just before process.exit.
    const format = PinoPretty.prettyFactory(prettyOptions(stderr.isTTY === true && stderr.hasColors?.() === true));
    destination = { write: (line: string) => fd2.write(format(line)) };
  }
  return pino({ level, base: { pid: process.pid } }, destination);
}

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

function prettyOptions(colorize: boolean): PinoPretty.PrettyOptions {
  return {
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // Everything the line shows comes from messageLine; no multi-line object or stack below it.
    hideObject: true,
    messageFormat: (log, _key, _label, { colors }) => messageLine(log, colorize ? colors.gray : (s) => s),
  };
}

const formatPretty = PinoPretty.prettyFactory(prettyOptions(false));

/** The uncoloured pretty line for one pino JSON line (exported for tests). */
export function formatPrettyLine(json: string): string {
  return formatPretty(json);
}
