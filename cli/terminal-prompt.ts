import { createInterface } from 'node:readline';
import { PheromonesError } from '../src/errors.js';

/**
 * Questions to the person at the terminal. Prompts go to stderr so that
 * stdout carries only the command's result (and `--json` stays parseable).
 */

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Bound on one typed answer; a passphrase or hex secret is far shorter. */
const MAX_ANSWER = 4096;

/** Reads one line without echoing it (passphrases, secret keys). Ctrl-C aborts the command. */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new PheromonesError('failed-precondition', 'cannot prompt: standard input is not a terminal');
  process.stderr.write(question);
  return new Promise<string>((resolve, reject) => {
    let answer = '';
    const wasRaw = stdin.isRaw;
    const finish = (err: Error | undefined): void => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        switch (ch) {
          case '\r':
          case '\n':
            finish(undefined);
            return;
          case '\u0003': // Ctrl-C
            finish(new PheromonesError('refused', 'cancelled'));
            return;
          case '\u0004': // Ctrl-D on an empty line ends input
            if (answer === '') {
              finish(new PheromonesError('refused', 'cancelled'));
              return;
            }
            break;
          case '\u007f': // backspace
          case '\b':
            answer = Array.from(answer).slice(0, -1).join('');
            break;
          default:
            if (ch >= ' ' && answer.length < MAX_ANSWER) answer += ch;
        }
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Asks a yes/no question; anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  if (!canPrompt()) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
