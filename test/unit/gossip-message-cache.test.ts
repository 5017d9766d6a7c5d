import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageCache } from '../../src/gossip/message-cache.js';
import type { CachedMessage } from '../../src/gossip/message-cache.js';

function entry(bytes: number): CachedMessage {
  return { id: new Uint8Array(32), body: new Uint8Array(bytes), topic: 't', knownBy: [], path: [], from: undefined, fromWeight: 0, hints: 0 };
}

describe('MessageCache (messages kept to answer grafts)', () => {
  it('drops the oldest entries beyond its entry bound', () => {
    const cache = new MessageCache(3, 1 << 20, 60_000);
    for (let i = 0; i < 5; i++) cache.add(`m${i}`, entry(10));
    assert.equal(cache.size, 3);
    assert.equal(cache.get('m1'), undefined);
    assert.ok(cache.get('m2') && cache.get('m4'));
  });

  it('drops the oldest beyond its byte bound, but always keeps the newest', () => {
    const cache = new MessageCache(100, 100, 60_000);
    cache.add('a', entry(40));
    cache.add('b', entry(40));
    cache.add('c', entry(40));
    assert.deepEqual([cache.get('a'), !!cache.get('b'), !!cache.get('c')], [undefined, true, true]);
    cache.add('huge', entry(1_000));
    assert.equal(cache.size, 1);
    assert.ok(cache.get('huge'));
  });

  it('expires entries by age: a lookup never returns one, and the next add evicts it', () => {
    let now = 1_000;
    const cache = new MessageCache(100, 1 << 20, 3_000, () => now);
    cache.add('old', entry(10));
    now += 2_000;
    cache.add('newer', entry(10));
    now += 1_500;
    assert.equal(cache.get('old'), undefined);
    assert.ok(cache.get('newer'));
    cache.add('newest', entry(10));
    assert.equal(cache.size, 2);
  });

  it('stays bounded and consistent over many more arrivals than it holds', () => {
    let now = 0;
    const cache = new MessageCache(50, 1 << 20, 1_000, () => now);
    for (let i = 0; i < 20_000; i++) {
      now += 7;
      cache.add(`m${i}`, entry(1));
      assert.ok(cache.size <= 50);
    }
    // 1 s at one message per 7 ms is 142 messages: the entry bound (50) is the one that binds.
    assert.equal(cache.size, 50);
    assert.ok(cache.get('m19999') && cache.get('m19950') && !cache.get('m19949'));
  });
});
