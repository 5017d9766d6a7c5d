/**
 * `--metrics`: a real daemon scraped over HTTP, as Prometheus would. The
 * values move when a peer connects, messages flow, a handshake fails, a ban
 * is made and the peer leaves; counters never go down.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { DaemonSet, pollUntil, type Daemon } from '../helpers/daemon.js';
import { apiOf } from '../helpers/api.js';
import { scrape, type Scrape } from '../helpers/metrics.js';

const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 30_000;
const MESSAGES = 20;
const REGTEST = ['--network', 'regtest', '--no-stdin'];

async function metricsUrl(d: Daemon): Promise<string> {
  const r = await d.waitForLog((l) => l.msg === 'metrics listening', 15_000, '"metrics listening"');
  assert.equal((r.address as string).startsWith('127.0.0.1:'), true, 'loopback by default');
  return r.url as string;
}

/** Scrape until `check` holds; returns that scrape. */
function scrapeUntil(url: string, check: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  return pollUntil(
    async () => {
      const s = await scrape(url);
      return check(s) ? s : undefined;
    },
    WAIT_MS,
    what,
    100,
  );
}

describe('metrics endpoint', () => {
  const net = new DaemonSet();
  after(() => net.cleanup());

  it('serves Prometheus text whose values follow peers, messages, handshakes and bans', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const a = await net.start({ name: 'A', args: [...REGTEST, '--metrics', ':0', '--mine'] });
    const url = await metricsUrl(a);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const idle = await scrape(url);
    assert.equal(idle.value('pheromones_peers'), 0);
    assert.equal(idle.value('pheromones_message_log_messages'), 0);
    assert.equal(idle.value('pheromones_chain_syncing'), 0);
    for (const result of ['recovered', 'given_up']) {
      const series = idle.samples.filter((s) => s.name === 'pheromones_gossip_repairs_total' && s.labels.result === result);
      assert.deepEqual(series.map((s) => s.value), [0], `repairs ${result} is exported, at 0`);
    }
    for (const [name, type] of [
      ['pheromones_peers', 'gauge'],
      ['pheromones_protocol_bytes_total', 'counter'],
      ['pheromones_protocol_frames_total', 'counter'],
      ['pheromones_handshakes_total', 'counter'],
      ['pheromones_gossip_delivered_total', 'counter'],
      ['pheromones_gossip_repairs_total', 'counter'],
      ['pheromones_chain_height', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ] as const) {
      assert.equal(idle.types.get(name), type, `${name} is a ${type}`);
    }
    assert.ok(idle.value('process_resident_memory_bytes') > 0);
    // Only /metrics is served.
    assert.equal((await fetch(url.replace('/metrics', '/'))).status, 404);
    assert.equal((await fetch(url, { method: 'POST' })).status, 405);

    // A peer connects and gossips.
    const b = await net.start({ name: 'B', peers: [a.address], args: REGTEST });
    const apiA = await apiOf(a);
    const apiB = await apiOf(b);
    after(() => apiA.channel.close());
    after(() => apiB.channel.close());
    const connected = await scrapeUntil(url, (s) => s.value('pheromones_peers', { direction: 'inbound' }) === 1, 'one inbound peer');
    assert.equal(connected.value('pheromones_peers', { direction: 'outbound' }), 0);
    assert.ok(connected.value('pheromones_handshakes_total', { direction: 'inbound', result: 'ok' }) >= 1);
    for (let i = 0; i < MESSAGES; i++) await apiB.messages.broadcast({ topic: 'metrics', payload: new TextEncoder().encode(`m${i}`) });
    const flowed = await scrapeUntil(url, (s) => s.value('pheromones_gossip_delivered_total') >= MESSAGES, `${MESSAGES} deliveries`);
    assert.ok(flowed.value('pheromones_message_log_messages') >= MESSAGES);
    assert.ok(flowed.value('pheromones_gossip_seen_cache_entries') >= MESSAGES);
    const gossipIn = flowed.value('pheromones_protocol_bytes_total', { protocol: 'gossip', direction: 'in' });
    assert.ok(gossipIn > MESSAGES * 32, `gossip bytes in: ${gossipIn}`);
    assert.ok(flowed.value('pheromones_protocol_frames_total', { protocol: 'gossip', direction: 'in' }) >= MESSAGES);
    assert.ok(flowed.value('pheromones_protocol_frames_total', { protocol: 'chain', direction: 'out' }) >= 1, 'chain status went out');
    assert.ok(flowed.value('pheromones_socket_bytes_total', { direction: 'in' }) > gossipIn);
    // The broadcasts became transactions; A mines them into blocks.
    await scrapeUntil(url, (s) => s.value('pheromones_chain_height') >= 1, 'a mined block');

    // A handshake that fails is counted by why.
    const junk = connect(a.port, '127.0.0.1');
    junk.on('error', () => undefined);
    await once(junk, 'connect');
    junk.end(Buffer.alloc(64, 0xff));
    const failed = await scrapeUntil(
      url,
      (s) => s.samples.some((x) => x.name === 'pheromones_handshakes_total' && x.labels.direction === 'inbound' && x.labels.result !== 'ok' && x.value >= 1),
      'a failed inbound handshake',
    );
    junk.destroy();
    const reasons = failed.samples.filter((x) => x.name === 'pheromones_handshakes_total' && x.labels.result !== 'ok').map((x) => x.labels.result);
    t.diagnostic(`failed handshake results: ${reasons.join(', ')}`);
    assert.ok(reasons.every((r) => /^[a-z_]+$/.test(r!)), `bounded reason labels: ${reasons.join(', ')}`);

    // A ban, and the peer leaves: the gauges drop, the counters keep their totals.
    await apiA.peers.banPeer({ target: b.nodeId, durationMs: 60_000n, reason: 'metrics test' });
    const banned = await scrapeUntil(url, (s) => s.value('pheromones_peers') === 0 && s.value('pheromones_bans') === 1, 'B banned and gone');
    assert.equal(banned.value('pheromones_bans_total'), 1);
    assert.ok(banned.value('pheromones_protocol_bytes_total', { protocol: 'gossip', direction: 'in' }) >= gossipIn, 'counters survive the disconnection');
    assert.ok(banned.value('pheromones_gossip_delivered_total') >= MESSAGES);
  });

  it('is off unless --metrics is given', { timeout: TEST_TIMEOUT_MS }, async () => {
    const c = await net.start({ name: 'C', args: REGTEST });
    await apiOf(c).then((api) => api.channel.close());
    assert.ok(!c.logs.some((r) => r.msg === 'metrics listening'));
  });
});
