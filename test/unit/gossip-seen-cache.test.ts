import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SeenCache } from '../../src/gossip/seen-cache.js';
import { rng } from '../helpers/fuzz.js';

/** A 32-byte id, as gossip ids are (sha256 digests). */
function id(name: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(name).digest());
}

describe('SeenCache', () => {
  it('reports the first add as new and later ones as seen', () => {
    const c = new SeenCache(10, 1_000, () => 0);
    assert.equal(c.add(id('a')), true);
    assert.equal(c.add(id('a')), false);
    assert.equal(c.has(id('a')), true);
    assert.equal(c.has(id('b')), false);
  });

  it('holds at most maxEntries, evicting the oldest first', () => {
    const c = new SeenCache(3, 1_000_000, () => 0);
    for (const k of ['a', 'b', 'c', 'd', 'e']) c.add(id(k));
    assert.equal(c.size, 3);
    assert.equal(c.has(id('a')), false);
    assert.equal(c.has(id('b')), false);
    assert.deepEqual(['c', 'd', 'e'].map((k) => c.has(id(k))), [true, true, true]);
  });

  it('forgets entries older than maxAgeMs', () => {
    let now = 1_000;
    const c = new SeenCache(100, 500, () => now);
    c.add(id('old'));
    now += 300;
    c.add(id('young'));
    now += 250; // old is 550 ms, young 250 ms
    assert.equal(c.has(id('old')), false);
    assert.equal(c.has(id('young')), true);
    now += 300;
    assert.equal(c.size, 0);
    assert.equal(c.add(id('old')), true, 'an expired id counts as new again');
  });

  it('stays bounded under a long stream of ids', () => {
    const c = new SeenCache(1_000, 60_000, () => 0);
    for (let i = 0; i < 50_000; i++) c.add(id(`id${i}`));
    assert.equal(c.size, 1_000);
    assert.equal(c.has(id('id49999')), true);
    assert.equal(c.has(id('id48999')), false);
  });

  it('answers like a plain map of every id with its age, through growth, evictions and expiry', () => {
    const r = rng(5);
    let now = 0;
    const maxEntries = 3_000;
    const maxAgeMs = 5_000;
    const c = new SeenCache(maxEntries, maxAgeMs, () => now);
    // The model: insertion-ordered map of id -> time added, with the same two bounds.
    const model = new Map<string, number>();
    const live = (k: string): boolean => (model.get(k) ?? Number.NEGATIVE_INFINITY) > now - maxAgeMs;
    for (let step = 0; step < 40_000; step++) {
      now += r.int(3);
      const name = `m${r.int(6_000)}`;
      if (r.int(3) === 0) {
        assert.equal(c.has(id(name)), live(name), `has ${name} at step ${step}`);
        continue;
      }
      const fresh = !live(name);
      assert.equal(c.add(id(name)), fresh, `add ${name} at step ${step}`);
      if (!fresh) continue;
      model.delete(name);
      for (const [k, at] of model) {
        if (at > now - maxAgeMs && model.size < maxEntries) break;
        model.delete(k);
      }
      model.set(name, now);
    }
    for (const k of model.keys()) assert.equal(c.has(id(k)), live(k));
  });
});
