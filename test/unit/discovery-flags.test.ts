import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDaemonArgs, UsageError, type DaemonOptions } from '../../src/daemon/flags.js';

function options(argv: string[], env: NodeJS.ProcessEnv = {}): DaemonOptions {
  const parsed = parseDaemonArgs(argv, env);
  assert.equal(parsed.command, 'run');
  return (parsed as { options: DaemonOptions }).options;
}

describe('discovery flags', () => {
  it('defaults: no seeds, 24 h bans, automatic connections on auto', () => {
    const o = options([]);
    assert.deepEqual(o.seeds, []);
    assert.equal(o.banDurationMs, 24 * 3600 * 1000);
    assert.equal(o.discovery, 'auto');
  });

  it('--seed is repeatable, takes DNS names, and reads a comma-separated environment variable', () => {
    assert.deepEqual(options(['--seed', 'seed.example.org:7000', '--seed', '10.0.0.1:7000']).seeds, ['seed.example.org:7000', '10.0.0.1:7000']);
    assert.deepEqual(options([], { PHEROMONES_SEED: 'a.example:1, 10.0.0.2:2' }).seeds, ['a.example:1', '10.0.0.2:2']);
    assert.deepEqual(options(['--seed', '10.0.0.3:3'], { PHEROMONES_SEED: 'a.example:1' }).seeds, ['10.0.0.3:3']);
  });

  it('rejects bad seeds, durations and modes', () => {
    assert.throws(() => options(['--seed', 'no-port']), UsageError);
    assert.throws(() => options(['--ban-duration', '0']), UsageError);
    assert.throws(() => options(['--discovery', 'sometimes']), UsageError);
    assert.equal(options(['--discovery', 'OFF']).discovery, 'off');
    assert.equal(options(['--ban-duration', '60000']).banDurationMs, 60_000);
  });
});
