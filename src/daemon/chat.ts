import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { NodeApi, StoredMessage } from '../node/types.js';

/** The topic interactive use reads and writes. */
export const CHAT_TOPIC = 'chat';

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * Text from the network is shown on someone's terminal: control characters
 * (escape sequences could rewrite the screen) become U+FFFD.
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\uFFFD');
}

/** "[HH:MM:SS] <first 8 hex of origin> (hops N): text", local time of delivery. */
export function formatChatLine(msg: StoredMessage): string {
  const t = new Date(msg.receivedAtMs);
  const clock = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}`;
  const text = printable(Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength).toString('utf8'));
  return `[${clock}] ${msg.origin.slice(0, 8)} (hops ${msg.hops}): ${text}`;
}

/**
 * Print every chat message the node delivers (its own included). If standard
 * output goes away (EPIPE: the reader exited) printing stops; the node keeps
 * serving. Returns the unsubscribe function.
 */
export function printChat(node: NodeApi, out: Writable, log: Logger): () => void {
  const off = node.onMessage((msg) => {
    if (msg.topic === CHAT_TOPIC && out.writable) out.write(`${formatChatLine(msg)}\n`);
  });
  out.once('error', (err: Error) => {
    off();
    log.warn({ err: err.message }, 'standard output failed; no longer printing chat messages');
  });
  return off;
}

/**
 * Broadcast each non-empty line of `input` on the chat topic. When input ends
 * the node keeps serving; a failed broadcast is logged, never fatal.
 * Returns a function that stops reading.
 */
export function broadcastLines(node: NodeApi, input: Readable, log: Logger): () => void {
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    node.broadcast(CHAT_TOPIC, new TextEncoder().encode(line)).catch((err: unknown) => {
      log.warn({ err }, 'chat line not sent');
    });
  });
  rl.on('close', () => log.debug('standard input closed; still serving'));
  return () => rl.close();
}
