import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './flags.js';

/**
 * Logs go to standard error so standard output carries only chat lines.
 * A pipe or file gets pino's JSON (one object per line, what tests and log
 * collectors read); a terminal gets a short human line instead.
 */
export function createDaemonLogger(level: LogLevel, stderr: NodeJS.WriteStream = process.stderr): Logger {
  const destination: DestinationStream = stderr.isTTY
    ? humanDestination((line) => stderr.write(line))
    : // Synchronous so the last lines before exit are not lost.
      pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { pid: process.pid } }, destination);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err']);

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function showValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/**
 * Rewrites one pino JSON line as "HH:MM:SS.mmm LEVEL msg key=value ... (error)".
 * Exported for tests; a line that is not JSON passes through unchanged.
 */
export function formatHumanLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const t = new Date(typeof rec.time === 'number' ? rec.time : Date.now());
  const clock = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const level = (LEVEL_NAMES[rec.level as number] ?? String(rec.level)).padEnd(5);
  const fields = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${showValue(v)}`);
  const err = rec.err as { message?: unknown } | undefined;
  const errText = err && typeof err.message === 'string' ? `: ${err.message}` : '';
  return `${clock} ${level} ${String(rec.msg ?? '')}${errText}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

function humanDestination(write: (line: string) => void): DestinationStream {
  return {
    write(chunk: string): void {
      // pino writes whole lines, one record per call.
      for (const line of chunk.split('\n')) if (line) write(formatHumanLine(line));
    },
  };
}
