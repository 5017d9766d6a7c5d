import { createSocket, type Socket } from 'node:dgram';
import { PheromonesError } from '../errors.js';

/** What an exchange's body works with: its socket, the one way to end it, and its (one) timer. */
export interface UdpExchange<T> {
  socket: Socket;
  /** Settle the exchange; later calls do nothing. Closes the socket and clears the timer. */
  finish(err: Error | undefined, value?: T): void;
  /** Replace the exchange's timer (cleared when it finishes). */
  setTimer(timer: NodeJS.Timeout): void;
}

/**
 * One UDP request/answer exchange on a fresh udp4 socket that settles
 * exactly once, on an answer, an error, a timer or `signal`, whichever the
 * body (`run`) or the caller brings first.
 */
export function udpExchange<T>(signal: AbortSignal, cancelled: string, run: (x: UdpExchange<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err: Error | undefined, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (err !== undefined) reject(err);
      else resolve(value as T);
    };
    const onAbort = (): void => finish(new PheromonesError('unavailable', cancelled));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    run({
      socket,
      finish,
      setTimer: (t) => {
        clearTimeout(timer);
        timer = t;
      },
    });
  });
}
