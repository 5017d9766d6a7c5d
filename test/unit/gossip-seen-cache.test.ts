import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeenCache } from '../../src/gossip/seen-cache.js';

describe('SeenCache', () => {
  it('reports the first add as new and later ones as seen', () => {
    const c = new SeenCache(10, 1_000, () => 0);
    assert.equal(c.add('a'), true);
    assert.equal(c.add('a'), false);
    assert.equal(c.has('a'), true);
    assert.equal(c.has('b'), false);
  });

  it('holds at most maxEntries, evicting the oldest first', () => {
    const c = new SeenCache(3, 1_000_000, () => 0);
    for (const k of ['a', 'b', 'c', 'd', 'e']) c.add(k);
    assert.equal(c.size, 3);
    assert.equal(c.has('a'), false);
    assert.equal(c.has('b'), false);
    assert.deepEqual(['c', 'd', 'e'].map((k) => c.has(k)), [true, true, true]);
  });

  it('forgets entries older than maxAgeMs', () => {
    let now = 1_000;
    const c = new SeenCache(100, 500, () => now);
    c.add('old');
    now += 300;
    c.add('young');
    now += 250; // old is 550 ms, young 250 ms
    assert.equal(c.has('old'), false);
    assert.equal(c.has('young'), true);
    now += 300;
    assert.equal(c.size, 0);
    assert.equal(c.add('old'), true, 'an expired id counts as new again');
  });

  it('stays bounded under a long stream of ids', () => {
    const c = new SeenCache(1_000, 60_000, () => 0);
    for (let i = 0; i < 50_000; i++) c.add(`id${i}`);
    assert.equal(c.size, 1_000);
    assert.equal(c.has('id49999'), true);
    assert.equal(c.has('id48999'), false);
  });
});
