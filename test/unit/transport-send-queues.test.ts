import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QUEUE_QUANTUM, SendQueues } from '../../src/transport/send-queues.js';
import { CONTROL_QUEUE } from '../../src/transport/types.js';

/** A body whose first byte says which queue it came from and the next four its sequence number. */
function body(tag: number, seq: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = tag;
  new DataView(b.buffer).setUint32(1, seq);
  return b;
}

function drain(q: SendQueues): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let next = q.peek(); next !== undefined; next = q.peek()) {
    const taken = q.take();
    assert.equal(taken, next, 'take() returns what peek() showed');
    out.push(taken);
  }
  return out;
}

const A = 1;
const B = 2;
const C = 3;
const seqOf = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset).getUint32(1);

describe('SendQueues', () => {
  it('serves control first, then the others, each in its own order', () => {
    const q = new SendQueues();
    for (let i = 0; i < 5; i++) q.push('gossip', body(A, i, 100));
    q.push(CONTROL_QUEUE, body(C, 0, 10));
    for (let i = 0; i < 5; i++) q.push('chain', body(B, i, 100));
    const first = q.peek()!;
    assert.equal(first[0], C, 'control overtakes frames queued before it');
    q.take();
    q.push(CONTROL_QUEUE, body(C, 1, 10));
    const rest = drain(q);
    assert.equal(rest[0]![0], C, 'control queued mid-way goes next');
    for (const tag of [A, B]) {
      assert.deepEqual(rest.filter((b) => b[0] === tag).map(seqOf), [0, 1, 2, 3, 4]);
    }
    assert.equal(q.peek(), undefined);
  });

  it('lets a burst of small frames through while large ones queued before it wait their turn', () => {
    const q = new SendQueues();
    const BIG = 1024 * 1024;
    for (let i = 0; i < 8; i++) q.push('chain', body(A, i, BIG));
    for (let i = 0; i < 2000; i++) q.push('gossip', body(B, i, 1000));
    const out = drain(q);
    assert.equal(out.length, 2008);
    // The gossip burst does not wait for 8 MiB of chain frames queued before it...
    assert.equal(out[0]![0], B);
    // ...nor does the chain wait for the whole burst.
    const firstChain = out.findIndex((b) => b[0] === A);
    assert.ok(firstChain < 2000, `first chain frame at ${firstChain}`);
    // Byte shares stay within one large frame plus two quanta of each other while both queues are busy.
    let a = 0;
    let b = 0;
    let maxGap = 0;
    for (const f of out) {
      if (f[0] === A) a += f.length;
      else b += f.length;
      if (a < 8 * BIG && b < 2000 * 1000) maxGap = Math.max(maxGap, Math.abs(a - b));
    }
    assert.ok(maxGap <= BIG + 2 * QUEUE_QUANTUM, `byte shares drifted ${maxGap} apart`);
  });

  it('gives three busy queues equal byte shares per round', () => {
    const q = new SendQueues();
    for (let i = 0; i < 300; i++) {
      q.push('a', body(A, i, 500));
      q.push('b', body(B, i, 2000));
      q.push('c', body(C, i, 8000));
    }
    const sent = new Map<number, number>([[A, 0], [B, 0], [C, 0]]);
    // Until the first queue runs dry, every queue has had the same number of quanta, give or take one.
    for (let next = q.peek(); next !== undefined; next = q.peek()) {
      const f = q.take();
      sent.set(f[0]!, sent.get(f[0]!)! + f.length);
      if ([...sent.values()].some((v, i) => v === [500, 2000, 8000][i]! * 300)) break;
    }
    const shares = [...sent.values()];
    assert.ok(Math.max(...shares) - Math.min(...shares) <= 2 * QUEUE_QUANTUM, `shares ${shares.join(', ')}`);
  });

  it('counts what each queue handed out and drops the rest on clear()', () => {
    const q = new SendQueues();
    q.push('gossip', body(A, 0, 100));
    q.push('gossip', body(A, 1, 50));
    q.push('chain', body(B, 0, 70));
    q.peek();
    q.take();
    q.clear();
    assert.equal(q.peek(), undefined);
    q.push('chain', body(B, 1, 30));
    drain(q);
    const sent = Object.fromEntries(q.sent().map((s) => [s.queue, [s.frames, s.bytes]]));
    assert.deepEqual(sent, { [CONTROL_QUEUE]: [0, 0], gossip: [1, 100], chain: [1, 30] });
  });
});
