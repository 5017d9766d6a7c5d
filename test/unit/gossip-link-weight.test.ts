import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rng } from '../helpers/fuzz.js';
import { heaviestOfCycle, linkWeight, nodeRank, pairHash, PATH_WEIGHTS, withWeight } from '../../src/gossip/link-weight.js';

const A = 'aa'.repeat(32);
const B = 'bb'.repeat(32);
const C = 'cc'.repeat(32);

describe('gossip link weights', () => {
  it('both ends of a link compute the same pair hash; different links differ', () => {
    assert.equal(pairHash(A, B), pairHash(B, A));
    assert.notEqual(pairHash(A, B), pairHash(A, C));
    assert.ok(pairHash(A, B) >= 0 && pairHash(A, B) < 2 ** 26);
  });

  it('within a round-trip bucket, a link to a lower-ranked node weighs less', () => {
    const ids = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(2, '0').repeat(32));
    for (const x of ids.slice(0, 8)) {
      for (const y of ids.slice(8)) assert.equal(pairHash(x, y) >>> 16, Math.min(nodeRank(x), nodeRank(y)));
    }
    const [low, mid, high] = [...ids].sort((x, y) => nodeRank(x) - nodeRank(y)).filter((_, i) => i % 15 === 0);
    assert.ok(nodeRank(low!) < nodeRank(mid!) && nodeRank(mid!) < nodeRank(high!));
    assert.ok(linkWeight(50, pairHash(low!, high!)) < linkWeight(50, pairHash(mid!, high!)));
    assert.ok(linkWeight(30, pairHash(mid!, high!)) < linkWeight(200, pairHash(low!, high!)), 'the round trip comes first');
  });

  it('a slower link weighs more; round trips within a bucket weigh the same; unmeasured is heaviest', () => {
    const p = pairHash(A, B);
    assert.ok(linkWeight(100, p) > linkWeight(20, p));
    assert.equal(linkWeight(100, p), linkWeight(101, p), 'both ends measure slightly different round trips');
    assert.ok(linkWeight(-1, p) > linkWeight(60_000, p));
    assert.equal(linkWeight(0, p), linkWeight(15, p), 'loopback and LAN round trips are all equally near');
    assert.ok(linkWeight(-1, 2 ** 26 - 1) <= 0xffffffff, 'a weight fits a uint32');
  });

  it('a path keeps its heaviest PATH_WEIGHTS weights, heaviest first', () => {
    let path: number[] = [];
    for (let w = 1; w <= 20; w++) path = withWeight(path, w);
    assert.equal(path.length, PATH_WEIGHTS);
    assert.deepEqual(path, Array.from({ length: PATH_WEIGHTS }, (_, i) => 20 - i));
  });

  it('orders whatever order a peer sent its weights in, and leaves the received list as it was', () => {
    const r = rng(7);
    for (let round = 0; round < 500; round++) {
      const received = Array.from({ length: r.int(PATH_WEIGHTS + 1) }, () => r.int(2 ** 32));
      const copy = [...received];
      const w = round % 3 === 0 && received.length > 0 ? received[0]! : r.int(2 ** 32);
      const expected = [...received, w].sort((a, b) => b - a).slice(0, PATH_WEIGHTS);
      assert.deepEqual(withWeight(received, w), expected);
      assert.deepEqual(received, copy);
    }
  });

  it('finds the heaviest link of the cycle a duplicate shows, outside the shared part of both paths', () => {
    // Shared trunk carries 900; the first path's own links are 10 and 20, the duplicate's 30.
    assert.deepEqual(heaviestOfCycle(50, [900, 20, 10], [900, 30]), { on: 'link' });
    // The duplicate's path holds a heavier link: the node at the other end of ours finds it on its first path.
    assert.deepEqual(heaviestOfCycle(50, [900, 20], [900, 60]), { on: 'dup' });
    // Our first path holds it: a hint goes up that path.
    assert.deepEqual(heaviestOfCycle(50, [900, 70], [900, 30]), { on: 'first', weight: 70 });
    // Lists full of shared links may have dropped heavier links of the cycle: unknown.
    const full = Array.from({ length: PATH_WEIGHTS }, (_, i) => 1000 - i);
    assert.equal(heaviestOfCycle(50, full, full), undefined);
    // A full list still names its own heaviest.
    assert.deepEqual(heaviestOfCycle(50, full, [40]), { on: 'first', weight: 1000 });
    // No heavier link anywhere.
    assert.deepEqual(heaviestOfCycle(50, [10], []), { on: 'link' });
  });
});
