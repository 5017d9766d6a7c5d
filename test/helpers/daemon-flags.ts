/** parseDaemonArgs for tests: the options of a run, or the one-line UsageError it throws. */
import assert from 'node:assert/strict';
import { parseDaemonArgs, UsageError, type DaemonOptions } from '../../src/daemon/flags.js';

export function runFlags(argv: string[], env: NodeJS.ProcessEnv = {}): DaemonOptions {
  const parsed = parseDaemonArgs(argv, env);
  assert.equal(parsed.command, 'run');
  return parsed.options;
}

export function rejectsFlags(argv: string[], env: NodeJS.ProcessEnv, pattern: RegExp): void {
  assert.throws(
    () => parseDaemonArgs(argv, env),
    (err: unknown) => {
      assert.ok(err instanceof UsageError && err.kind === 'invalid-argument', `a UsageError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
      return true;
    },
  );
}
