import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bigIntToBytes, bytesToBigInt } from '../../src/chain/bytes.js';
import { testParams, targetForBits } from '../../src/chain/params.js';
import { expectedTarget } from '../../src/chain/retarget.js';
import { extend, openTestChain } from './chain-helpers.js';

const params = testParams({ genesisTarget: targetForBits(2), retargetInterval: 10, targetSpacingMs: 1000 });
const parent = targetForBits(8);
const at = (spacing: number) => (h: number) => 1_000_000 + h * spacing;

test('retarget keeps the target between retarget heights', () => {
  for (const h of [1, 5, 9, 11, 19]) assert.deepEqual(expectedTarget(params, h, parent, at(10)), parent);
  assert.deepEqual(expectedTarget(params, 0, parent, at(10)), params.genesisTarget);
});

test('retarget scales by actual over expected time, clamped to x4 and /4, capped at the genesis target', () => {
  const p = bytesToBigInt(parent);
  // On schedule: unchanged.
  assert.deepEqual(expectedTarget(params, 10, parent, at(1000)), parent);
  // Twice too slow: target doubles (easier). Twice too fast: halves.
  assert.equal(bytesToBigInt(expectedTarget(params, 20, parent, at(2000))), (p * 18000n) / 9000n);
  assert.equal(bytesToBigInt(expectedTarget(params, 20, parent, at(500))), (p * 4500n) / 9000n);
  // Far too fast: only /4. Far too slow: only x4.
  assert.equal(bytesToBigInt(expectedTarget(params, 10, parent, at(1))), p / 4n);
  assert.equal(bytesToBigInt(expectedTarget(params, 10, parent, at(100_000))), p * 4n);
  // Never easier than the genesis target.
  const nearLimit = bigIntToBytes(bytesToBigInt(params.genesisTarget) / 2n, 32);
  assert.deepEqual(expectedTarget(params, 10, nearLimit, at(100_000)), params.genesisTarget);
  // Timestamps going backwards count as the minimum.
  assert.equal(bytesToBigInt(expectedTarget(params, 10, parent, at(-50))), p / 4n);
});

test('the chain enforces the retarget on its blocks', async () => {
  const tc = await openTestChain(testParams({ retargetInterval: 4, targetSpacingMs: 1000 }));
  try {
    const { chain } = tc;
    // Blocks 250 ms apart: at height 4 the target must shrink to a quarter.
    await extend(chain, chain.head, 4, () => [], { timestampMs: undefined });
    const before = bytesToBigInt(chain.entryAt(3)!.header.target);
    assert.equal(bytesToBigInt(chain.entryAt(4)!.header.target), before, 'on-schedule blocks keep the target');
    const tc2 = await openTestChain(testParams({ retargetInterval: 4, targetSpacingMs: 1000 }));
    try {
      const c2 = tc2.chain;
      let t = c2.head.header.timestampMs;
      for (let i = 0; i < 4; i++) {
        t += 250;
        await extend(c2, c2.head, 1, () => [], { timestampMs: t });
      }
      assert.equal(bytesToBigInt(c2.entryAt(4)!.header.target), bytesToBigInt(tc2.params.genesisTarget) / 4n);
      assert.ok(c2.entryAt(4)!.work > c2.entryAt(3)!.work + (c2.entryAt(3)!.work - c2.entryAt(2)!.work) * 3n);
    } finally {
      await tc2.close();
    }
  } finally {
    await tc.close();
  }
});
