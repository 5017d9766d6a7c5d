import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { computeMessageId } from '../../src/gossip/message-id.js';

const origin = new Uint8Array(32).map((_, i) => i);
const base = {
  origin,
  timestampMs: 1_700_000_000_000n,
  nonce: 0x0123456789abcdefn,
  topic: 'chat',
  payload: new TextEncoder().encode('hello'),
};

describe('gossip message id', () => {
  it('is sha256 over the documented byte layout', () => {
    const fixed = Buffer.alloc(20);
    fixed.writeBigUInt64BE(base.timestampMs, 0);
    fixed.writeBigUInt64BE(base.nonce, 8);
    fixed.writeUInt32BE(4, 16);
    const expected = createHash('sha256')
      .update('pheromones/gossip/v1')
      .update(origin)
      .update(fixed)
      .update('chat')
      .update('hello')
      .digest();
    assert.deepEqual(Buffer.from(computeMessageId(base)), expected);
  });

  it('is stable (fixed vector)', () => {
    assert.equal(Buffer.from(computeMessageId(base)).toString('hex'), VECTOR);
  });

  it('changes with every covered field and is 32 bytes', () => {
    const id = Buffer.from(computeMessageId(base)).toString('hex');
    assert.equal(id.length, 64);
    const variants = [
      { ...base, origin: new Uint8Array(32) },
      { ...base, timestampMs: base.timestampMs + 1n },
      { ...base, nonce: base.nonce + 1n },
      { ...base, topic: 'chat2' },
      { ...base, payload: new Uint8Array([1]) },
      // Moving a byte from topic to payload must not collide: the topic length is covered.
      { ...base, topic: 'cha', payload: new TextEncoder().encode('thello') },
    ];
    for (const v of variants) assert.notEqual(Buffer.from(computeMessageId(v)).toString('hex'), id);
  });

  it('handles multi-byte topics by their UTF-8 length', () => {
    const a = computeMessageId({ ...base, topic: 'é' });
    const fixed = Buffer.alloc(20);
    fixed.writeBigUInt64BE(base.timestampMs, 0);
    fixed.writeBigUInt64BE(base.nonce, 8);
    fixed.writeUInt32BE(2, 16);
    const expected = createHash('sha256').update('pheromones/gossip/v1').update(origin).update(fixed).update('é').update('hello').digest();
    assert.deepEqual(Buffer.from(a), expected);
  });
});

const VECTOR = '654fa3df02917c754305f4dc4bb03c28d1f82dd652f6a32a283f0584be094484';
