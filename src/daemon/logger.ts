import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './flags.js';

/**
 * Logs go to standard error so standard output carries only chat lines.
 * `json` is pino's own output (one object per line: what tests and log
 * collectors read); `pretty` is one readable line per event, written by
 * pino-pretty (pretty-log.ts); `auto` picks pretty on a terminal and JSON
 * anywhere else.
 */
export async function createDaemonLogger(level: LogLevel, format: LogFormat = 'auto', stderr: NodeJS.WriteStream = process.stderr): Promise<Logger> {
  const pretty = format === 'pretty' || (format === 'auto' && stderr.isTTY === true);
  // Synchronous so the last lines before exit are not lost.
  const fd2 = pino.destination({ fd: 2, sync: true });
  let destination: DestinationStream = fd2;
  if (pretty) {
    // pino-pretty's formatter called in line, not its stream: that one is asynchronous and
    // would drop the fatal line written just before process.exit.
    const { prettyFormatter } = await import('./pretty-log.js');
    const format = prettyFormatter(stderr.isTTY === true && stderr.hasColors?.() === true);
    destination = { write: (line: string) => fd2.write(format(line)) };
  }
  return pino({ level, base: { pid: process.pid } }, destination);
}
