import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAddress, normaliseHost, ownHosts, parseAddress } from '../../src/peer/address.js';
import { backoffDelay } from '../../src/peer/backoff.js';
import { newConnectionWins, preferredDirection } from '../../src/peer/duplicate.js';
import { causeOf } from '../../src/peer/reasons.js';
import { DisconnectReason } from '../../src/gen/pheromones/wire/v1/wire_pb.js';

const LOW = '11'.repeat(32);
const HIGH = 'ee'.repeat(32);

describe('duplicate rule', () => {
  it('keeps the connection dialled by the lower node id, at both ends', () => {
    assert.equal(preferredDirection(LOW, HIGH), 'outbound');
    assert.equal(preferredDirection(HIGH, LOW), 'inbound');
    // Whatever order the two connections complete in, both ends pick LOW's dial.
    for (const [existing, incoming] of [
      ['outbound', 'inbound'],
      ['inbound', 'outbound'],
    ] as const) {
      const lowKeepsIncoming = newConnectionWins(LOW, HIGH, existing, incoming);
      const lowKept = lowKeepsIncoming ? incoming : existing;
      assert.equal(lowKept, 'outbound');
      // HIGH sees the mirror image of the same two connections.
      const mirror = (d: 'inbound' | 'outbound') => (d === 'inbound' ? 'outbound' : 'inbound');
      for (const [e, i] of [
        [mirror(existing), mirror(incoming)],
        [mirror(incoming), mirror(existing)],
      ] as const) {
        const highKept = newConnectionWins(HIGH, LOW, e, i) ? i : e;
        assert.equal(highKept, 'inbound');
      }
    }
  });

  it('lets a newer connection in the same direction replace the old one', () => {
    assert.equal(newConnectionWins(LOW, HIGH, 'inbound', 'inbound'), true);
    assert.equal(newConnectionWins(HIGH, LOW, 'outbound', 'outbound'), true);
  });
});

describe('addresses', () => {
  it('parses host:port and [v6]:port', () => {
    assert.deepEqual(parseAddress('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
    assert.deepEqual(parseAddress('localhost:7000'), { host: '127.0.0.1', port: 7000 });
    assert.deepEqual(parseAddress('[::1]:80'), { host: '::1', port: 80 });
    assert.deepEqual(parseAddress('example.org:1'), { host: 'example.org', port: 1 });
  });

  it('rejects malformed addresses as invalid-argument', () => {
    for (const bad of ['', '7000', 'host', 'host:', 'host:0', 'host:65536', '::1:80', '[nothex]:1', 'a b:1']) {
      assert.throws(() => parseAddress(bad), { kind: 'invalid-argument' }, bad);
    }
  });

  it('normalises mapped IPv4 and formats IPv6 in brackets', () => {
    assert.equal(normaliseHost('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(formatAddress('::ffff:10.0.0.1', 5), '10.0.0.1:5');
    assert.equal(formatAddress('::1', 5), '[::1]:5');
  });

  it('counts loopback and wildcard spellings as our own host', () => {
    const hosts = ownHosts('127.0.0.1');
    for (const h of ['127.0.0.1', '0.0.0.0', '::1']) assert.ok(hosts.has(h), h);
    assert.equal(hosts.has('10.1.2.3'), false);
  });
});

describe('backoff', () => {
  it('doubles from base up to max, with jitter in [half, full]', () => {
    const lo = (a: number) => backoffDelay(a, 100, 1_000, () => 0);
    const hi = (a: number) => backoffDelay(a, 100, 1_000, () => 1);
    assert.deepEqual([0, 1, 2, 3, 4, 10, 100].map(hi), [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.deepEqual([0, 1, 2, 3, 4].map(lo), [50, 100, 200, 400, 500]);
  });
});

describe('disconnect causes', () => {
  it('maps wire reasons to causes, unknown and unspecified to connection-lost', () => {
    assert.equal(causeOf(DisconnectReason.DUPLICATE), 'duplicate');
    assert.equal(causeOf(DisconnectReason.SLOW_READER), 'slow-reader');
    assert.equal(causeOf(DisconnectReason.UNSPECIFIED), 'connection-lost');
    assert.equal(causeOf(99 as DisconnectReason), 'connection-lost');
  });
});
