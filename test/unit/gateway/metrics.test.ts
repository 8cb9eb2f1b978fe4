import { describe, expect, it } from 'vitest';
import type { IngestItem } from '../../../core/nodeProtocol';
import { parsePromText, sumOf } from '../../../bench/promText';
import { Metrics } from '../../../gateway/Metrics';

const sources = { nodeStats: async () => [], channelDepths: () => [], connections: () => 0, subscribedUsers: () => 0 };
const item = (id: string, author: string): IngestItem => ({ event: { id, type: 'like', actor: 'x', tweet: { id: 'tw', author } }, users: [author] });

describe('Metrics.deliveredTriggered: receipt → send latency of each delivery', () => {
  it('counts each live delivery from the receipt of the batch item it names', async () => {
    const m = new Metrics(sources);
    const now = performance.now();
    // Received 5 s, 2 s and 0.1 s ago; only bob and carol are connected.
    const sent = [
      { item: item('e1', 'alice'), at: now - 5000 },
      { item: item('e2', 'bob'), at: now - 2000 },
      { item: item('e3', 'carol'), at: now - 100 },
    ];
    const deliveries = [
      { user: 'alice', item: 0 },
      { user: 'carol', item: 2 },
      { user: 'bob', item: 1 },
    ];
    const connected = new Set(['bob', 'carol']);
    m.deliveredTriggered(deliveries, sent, (d) => (connected.has(d.user) ? 1 : 0));
    const samples = parsePromText(await m.scrape());
    expect(sumOf(samples, 'herald_delivery_latency_seconds_count')).toBe(2);
    const sum = sumOf(samples, 'herald_delivery_latency_seconds_sum');
    expect(sum).toBeGreaterThan(2.1);
    expect(sum).toBeLessThan(2.6); // 2 s + 0.1 s (+ test time), not 5 s: alice's delivery went to no one
    expect(sumOf(samples, 'herald_live_deliveries_total', { path: 'triggered' })).toBe(2);
    expect(sumOf(samples, 'herald_delivery_latency_seconds_bucket', { le: '0.25' })).toBe(1);
  });

  it("counts a delivery without an item from the batch's oldest receipt", async () => {
    const m = new Metrics(sources);
    const now = performance.now();
    const sent = [
      { item: item('e1', 'bob'), at: now - 3000 },
      { item: item('e2', 'bob'), at: now - 1000 },
    ];
    m.deliveredTriggered([{ user: 'bob', item: -1 }, { user: 'bob' }], sent, () => 1);
    const sum = sumOf(parsePromText(await m.scrape()), 'herald_delivery_latency_seconds_sum');
    expect(sum).toBeGreaterThan(5.9);
    expect(sum).toBeLessThan(6.5);
  });
});
