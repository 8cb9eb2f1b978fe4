import { describe, expect, it } from 'vitest';
import type { Delivery, IngestItem } from '../../../actors/NodeActor';
import { parsePromText, sumOf } from '../../../bench/promText';
import { Metrics } from '../../../gateway/Metrics';

const sources = { nodeStats: async () => [], channelDepths: () => [], connections: () => 0, subscribedUsers: () => 0 };
const item = (id: string, actor: string, author: string): IngestItem => ({ event: { id, type: 'like', actor, tweet: { id: 'tw', author } }, users: [author] });
const delivery = (user: string, eventIds: string[], actors: string[]): Delivery => ({
  user,
  notification: { offset: 1, type: 'like', actors, eventIds, ts: 0 },
});

describe('Metrics.deliveredTriggered: receipt → send latency of each delivery', () => {
  it('finds each delivery\'s own event in its batch, aggregated ones by their newest id', async () => {
    const m = new Metrics(sources);
    const now = performance.now();
    // Received 5 s, 2 s and 0.1 s ago; only bob and carol are connected.
    const sent = [
      { item: item('e1', 'x', 'alice'), at: now - 5000 },
      { item: item('e2', 'y', 'bob'), at: now - 2000 },
      { item: item('e3', 'z', 'carol'), at: now - 100 },
    ];
    const deliveries = [
      delivery('alice', ['e1'], ['x']),
      delivery('bob', ['e2'], ['y']),
      // carol's like was aggregated with an earlier one: its own id is last, its actor first.
      delivery('carol', ['e0', 'e3'], ['z', 'w']),
    ];
    const connected = new Set(['bob', 'carol']);
    m.deliveredTriggered(deliveries, sent, (d) => (connected.has(d.user) ? 1 : 0));
    const samples = parsePromText(await m.scrape());
    expect(sumOf(samples, 'herald_delivery_latency_seconds_count')).toBe(2);
    const sum = sumOf(samples, 'herald_delivery_latency_seconds_sum');
    expect(sum).toBeGreaterThan(2.1);
    expect(sum).toBeLessThan(2.6); // 2 s + 0.1 s (+ test time), not 5 s: alice's event is not anyone's
    expect(sumOf(samples, 'herald_live_deliveries_total', { path: 'triggered' })).toBe(2);
    expect(sumOf(samples, 'herald_delivery_latency_seconds_bucket', { le: '0.25' })).toBe(1);
  });

  it('takes the item a delivery names (as nodes answer ingests), whatever its notification says', async () => {
    const m = new Metrics(sources);
    const now = performance.now();
    const sent = [
      { item: item('e1', 'x', 'alice'), at: now - 5000 },
      { item: item('e2', 'y', 'bob'), at: now - 2000 },
    ];
    m.deliveredTriggered([{ user: 'bob', item: 1 }], sent, () => 1);
    const sum = sumOf(parsePromText(await m.scrape()), 'herald_delivery_latency_seconds_sum');
    expect(sum).toBeGreaterThan(1.9);
    expect(sum).toBeLessThan(2.5);
  });

  it('falls back to the batch\'s oldest receipt for a delivery it cannot match', async () => {
    const m = new Metrics(sources);
    const now = performance.now();
    m.deliveredTriggered([delivery('bob', ['other'], ['q'])], [{ item: item('e1', 'x', 'bob'), at: now - 3000 }], () => 1);
    const sum = sumOf(parsePromText(await m.scrape()), 'herald_delivery_latency_seconds_sum');
    expect(sum).toBeGreaterThan(2.9);
    expect(sum).toBeLessThan(3.5);
  });
});

describe('Metrics.deliveredTriggered: deliveries in another order than the batch', () => {
  it('still finds each delivery\'s own event (reversed batch of 300)', async () => {
    const m = new Metrics(sources);
    const now = performance.now();
    // Item i was received i/5 ms before now... except the last 100, received 10 s ago; deliveries come reversed.
    const sent = Array.from({ length: 300 }, (_, i) => ({ item: item(`e${i}`, `a${i}`, `u${i}`), at: i < 200 ? now - i / 5 : now - 10_000 }));
    const deliveries = Array.from({ length: 200 }, (_, i) => delivery(`u${199 - i}`, [`e${199 - i}`], [`a${199 - i}`]));
    m.deliveredTriggered(deliveries, sent, () => 1);
    const samples = parsePromText(await m.scrape());
    expect(sumOf(samples, 'herald_delivery_latency_seconds_count')).toBe(200);
    // Σ i/5 ms for i < 200 = 4 s (+ test time), nowhere near 200 × 10 s; each under 40 ms (+ test time: a loaded
    // machine may add tens of ms, not 60).
    expect(sumOf(samples, 'herald_delivery_latency_seconds_sum')).toBeLessThan(25);
    expect(sumOf(samples, 'herald_delivery_latency_seconds_bucket', { le: '0.1' })).toBe(200);
  });
});
