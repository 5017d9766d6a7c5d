import type { NodeConfig } from '../../src/node/config.js';

/** Discovery timings short enough for tests. */
export const FAST_DISCOVERY: NodeConfig['discovery'] = {
  engineIntervalMs: 100,
  retryBaseMs: 200,
  retryMaxMs: 2_000,
  dialTimeoutMs: 3_000,
  queryTimeoutMs: 2_000,
  autoConnect: 'on',
};
