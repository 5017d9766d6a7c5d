import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { IdFilter } from '../../src/store/id-filter.js';

function id(n: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`id ${n}`).digest());
}

describe('IdFilter (ids certainly not in the message log)', () => {
  it('never forgets an id, across several layers, and rarely claims one it never saw', () => {
    const f = new IdFilter();
    // 16k ids fill the first layer; 120k spill into three more.
    const added = 120_000;
    for (let i = 0; i < added; i++) f.add(id(i));
    assert.equal(f.size, added);
    for (let i = 0; i < added; i++) assert.ok(f.mightHave(id(i)), `id ${i} lost`);
    let falsePositives = 0;
    const probes = 50_000;
    for (let i = 0; i < probes; i++) if (f.mightHave(id(1_000_000 + i))) falsePositives++;
    // About 0.3% per layer with four layers: anything near 1.2% is as designed, 3% would not be.
    assert.ok(falsePositives / probes < 0.03, `false-positive rate ${falsePositives / probes}`);
  });

  it('starts empty: nothing is claimed', () => {
    const f = new IdFilter();
    for (let i = 0; i < 1_000; i++) assert.equal(f.mightHave(id(i)), false);
  });
});
