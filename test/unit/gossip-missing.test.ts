import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MissingTable } from '../../src/gossip/missing.js';

/** A table on a hand-moved clock; grafts are recorded, never sent. */
function table(timeoutMs = 250) {
  let now = 1_000_000;
  const grafts: { peer: string; ids: number }[] = [];
  const t = new MissingTable({
    maxEntries: 100,
    maxAnnouncers: 4,
    timeoutMs,
    retryMs: 100,
    graft: (peer, ids) => grafts.push({ peer, ids: ids.length }),
    isConnected: () => true,
    onDropped: () => undefined,
    now: () => now,
  });
  return { t, grafts, advance: (ms: number) => (now += ms) };
}

const id = (n: number): Uint8Array => Uint8Array.of(n, 0, 0, 0, 0, 0, 0, 0);

test('the graft wait starts at the configured timeout', () => {
  const { t } = table(250);
  assert.equal(t.timeoutMs, 250);
  t.stop();
});

test('eager copies arriving late after their announcements lengthen the wait, at most to 4 times the timeout', () => {
  const { t, advance } = table(250);
  // Copies that come 400 ms after the announcement, from the tree parent, not from the announcer.
  for (let i = 0; i < 20; i++) {
    t.announce(`k${i}`, id(i), 'lazy');
    advance(400);
    assert.equal(t.resolve(`k${i}`, 'parent')?.grafted, false);
    advance(50);
  }
  // With copies this late the wait is past 250 ms and never past 1 s.
  assert.ok(t.timeoutMs > 250, `wait ${t.timeoutMs} ms`);
  for (let i = 20; i < 60; i++) {
    t.announce(`k${i}`, id(i), 'lazy');
    advance(3_000);
    t.resolve(`k${i}`, 'parent');
  }
  assert.equal(t.timeoutMs, 1_000);
  t.stop();
});

test('copies that follow their announcements at once bring the wait back to the timeout', () => {
  const { t, advance } = table(250);
  for (let i = 0; i < 10; i++) {
    t.announce(`a${i}`, id(i), 'lazy');
    advance(900);
    t.resolve(`a${i}`, 'parent');
  }
  assert.ok(t.timeoutMs > 250);
  for (let i = 0; i < 60; i++) {
    t.announce(`b${i}`, id(i), 'lazy');
    advance(5);
    t.resolve(`b${i}`, 'parent');
  }
  assert.equal(t.timeoutMs, 250);
  t.stop();
});

test('the answer to a graft is not taken for a late eager copy', () => {
  const { t, grafts, advance } = table(250);
  t.announce('k', id(1), 'lazy');
  advance(250);
  // The timer is a real one: fire it by hand through the deadline path.
  (t as unknown as { fire(): void }).fire();
  assert.deepEqual(grafts, [{ peer: 'lazy', ids: 1 }]);
  advance(900);
  assert.equal(t.resolve('k', 'lazy')?.grafted, true);
  // A 1,150 ms sample would have lengthened the wait.
  assert.equal(t.timeoutMs, 250);
  t.stop();
});
