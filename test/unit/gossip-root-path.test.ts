import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_PATH, RootTree, type TreeAdvert } from '../../src/gossip/root-tree.js';

/** One node's RootTree with hand-fed adverts: which paths it takes (Babel's feasibility condition). */
function node(rtts: Record<string, number>) {
  const sent: { to: string; advert: TreeAdvert }[] = [];
  const tree = new RootTree({
    localHex: 'ee'.repeat(32),
    beaconMs: 60_000,
    rootTimeoutMs: 200_000,
    rttOf: (id) => rtts[id] ?? -1,
    send: (to, advert) => sent.push({ to, advert }),
    onChange: () => undefined,
  });
  for (const id of Object.keys(rtts)) tree.addLink(id);
  return { tree, sent };
}

const ROOT = '00'.repeat(32);

test('a node that loses its parent takes no path through its own subtree, only a shorter one or a newer stamp', () => {
  const { tree } = node({ p: 10, c: 10, s: 10 });
  try {
    tree.onAdvert('p', { root: ROOT, seq: 100, distanceMs: 20, parent: false });
    tree.onAdvert('s', { root: ROOT, seq: 100, distanceMs: 40, parent: false });
    assert.deepEqual(tree.state(), { root: ROOT, seq: 100, distanceMs: 40, parent: 'p' }, 'round trips under 20 ms count as 20');
    tree.onAdvert('c', { root: ROOT, seq: 100, distanceMs: 40, parent: true });
    assert.equal(tree.isTreeLink('c'), true, 'a child names us its parent');
    assert.equal(tree.isTreeLink('s'), false);

    tree.removeLink('p');
    // s's 40 ms is not below the 40 ms we announced at stamp 100: its path may run through us.
    assert.deepEqual(tree.state(), { root: ROOT, seq: 100, distanceMs: NO_PATH, parent: undefined });
    tree.onAdvert('s', { root: ROOT, seq: 100, distanceMs: 25, parent: false });
    assert.equal(tree.state().parent, 's', 'a shorter path than any we announced cannot pass through us');
    assert.equal(tree.state().distanceMs, 45);
  } finally {
    tree.close();
  }
});

test('a newer stamp is always taken; a node named as parent is never the parent back; a lower root wins', () => {
  const { tree } = node({ a: 10, b: 10 });
  try {
    tree.onAdvert('a', { root: '10'.repeat(32), seq: 5, distanceMs: 0, parent: false });
    assert.equal(tree.state().parent, 'a');
    tree.onAdvert('b', { root: '10'.repeat(32), seq: 5, distanceMs: 50, parent: true });
    tree.removeLink('a');
    tree.addLink('a');
    assert.deepEqual(tree.state(), { root: '10'.repeat(32), seq: 5, distanceMs: NO_PATH, parent: undefined }, 'b follows us, so it cannot lead us to the root');
    tree.onAdvert('b', { root: '10'.repeat(32), seq: 6, distanceMs: 50, parent: false });
    assert.deepEqual(tree.state(), { root: '10'.repeat(32), seq: 6, distanceMs: 70, parent: 'b' });
    tree.onAdvert('a', { root: ROOT, seq: 1, distanceMs: 500, parent: false });
    assert.deepEqual(tree.state(), { root: ROOT, seq: 1, distanceMs: 520, parent: 'a' }, 'the lowest root known, whatever the distance');
  } finally {
    tree.close();
  }
});

test('a root heard of only from its own children is followed with no path and stamp 0 until a newer stamp comes', () => {
  const { tree } = node({ c: 10, s: 10 });
  try {
    tree.onAdvert('c', { root: ROOT, seq: 9, distanceMs: 30, parent: true });
    assert.deepEqual(tree.state(), { root: ROOT, seq: 0, distanceMs: NO_PATH, parent: undefined });
    tree.onAdvert('s', { root: ROOT, seq: 9, distanceMs: 30, parent: false });
    assert.deepEqual(tree.state(), { root: ROOT, seq: 9, distanceMs: 50, parent: 's' });
  } finally {
    tree.close();
  }
});

test('a parent is chosen on the least round trip seen on its link, so one late pong does not move the tree', () => {
  const rtts: Record<string, number> = { a: 40, b: 50 };
  const { tree } = node(rtts);
  try {
    tree.onAdvert('a', { root: ROOT, seq: 1, distanceMs: 100, parent: false });
    tree.onAdvert('b', { root: ROOT, seq: 1, distanceMs: 100, parent: false });
    assert.equal(tree.state().parent, 'a');
    rtts.a = 900;
    tree.onAdvert('b', { root: ROOT, seq: 2, distanceMs: 100, parent: false });
    tree.onAdvert('a', { root: ROOT, seq: 2, distanceMs: 100, parent: false });
    assert.deepEqual(tree.state(), { root: ROOT, seq: 2, distanceMs: 140, parent: 'a' });
  } finally {
    tree.close();
  }
});
