import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byLabel, parsePromText, sumOf, type PromSample } from '../../bench/promText';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';

// GET /metrics on a real cluster: gateway counters and histograms, and every node's figures with a `node` label.
describe('metrics: GET /metrics in Prometheus text format', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  const clients: TestClient[] = [];

  const scrape = (token?: string) => fetch(`${cluster.info.http}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  async function connect(user: string, role: 'user' | 'producer' = 'user') {
    const c = await TestClient.connect(cluster.info.ws, data.token(user, role));
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    cluster = await data.startCluster();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  it('is for admins only: 401 without a valid token, 403 for a user or producer token', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('not-a-token')).status).toBe(401);
    const asUser = await scrape(data.token('bob', 'user'));
    expect(asUser.status).toBe(403);
    expect(await asUser.json()).toMatchObject({ code: 'HERALD_FORBIDDEN' });
    expect((await scrape(data.token('svc', 'producer'))).status).toBe(403);
  });

  it('counts events in, acked and rejected by code, deliveries and their latency, and aggregates every node', async () => {
    // bob (recipient) and alice (author of a tweet) live on different nodes, so the fanout is relayed.
    const [bob, alice, carol] = data.usersOnDistinctNodes('m', 3);
    const bobSub = await connect(bob);
    bobSub.send({ op: 'subscribe' });
    await bobSub.waitFor((m) => m.op === 'subscribed');
    const producer = await connect('svc', 'producer');

    // ws: 3 valid events acked (each notifies bob), then a publish of 2 refused as a whole (one invalid event).
    const ack = await producer.request({
      op: 'publish',
      id: 'p1',
      events: [
        { id: 'f1', type: 'follow', actor: carol, target: bob },
        { id: 'l1', type: 'like', actor: carol, tweet: { id: 'tw1', author: bob, text: 'hi' } },
        { id: 'f2', type: 'follow', actor: bob, target: alice },
      ],
    });
    expect(ack).toMatchObject({ op: 'ack', accepted: 3 });
    const refused = await producer.request({
      op: 'publish',
      id: 'p2',
      events: [
        { id: 'ok', type: 'follow', actor: carol, target: alice },
        { id: 'bad', type: 'follow', actor: carol },
      ],
    });
    expect(refused).toMatchObject({ op: 'error', code: 'HERALD_INVALID_EVENT' });
    // http: 1 event acked.
    const res = await fetch(`${cluster.info.http}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${data.token('svc', 'producer')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: 'r1', type: 'retweet', actor: carol, tweet: { id: 'tw1', author: bob } }] }),
    });
    expect(res.status).toBe(200);
    // alice tweets: bob follows her (rank 1 of 1 in his Top-N), so he is notified through the fanout.
    await producer.request({
      op: 'publish',
      id: 'p3',
      events: [{ id: 't1', type: 'tweet', actor: alice, tweet: { id: 'atw1', author: alice, text: 'news' } }],
    });
    const got = await bobSub.waitNotifications(4);
    expect(got.map((n) => n.type).sort()).toEqual(['follow', 'like', 'retweet', 'tweet']);

    // The fanout job's counters reach the node a moment after its last batch.
    const scraped = async () => {
      const r = await scrape(data.token('ops', 'admin'));
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePromText(await r.text());
    };
    const samples: PromSample[] = await waitFor('the fanout job counted', scraped, (ss) => sumOf(ss, 'herald_node_fanout_jobs_done_total') >= 1);
    const v = (name: string, labels: Record<string, string> = {}) => sumOf(samples, name, labels);

    // Gateway: events in / acked / rejected by code, per channel.
    expect(v('herald_events_received_total', { channel: 'ws' })).toBe(6);
    expect(v('herald_events_acked_total', { channel: 'ws' })).toBe(4);
    expect(v('herald_events_rejected_total', { channel: 'ws', code: 'HERALD_INVALID_EVENT' })).toBe(2);
    expect(v('herald_events_received_total', { channel: 'http' })).toBe(1);
    expect(v('herald_events_acked_total', { channel: 'http' })).toBe(1);
    expect(v('herald_errors_total', { channel: 'ws', code: 'HERALD_INVALID_EVENT' })).toBe(1);
    // Deliveries: three triggered (latency observed for each) and one by fanout, all sent on bob's socket.
    expect(v('herald_live_deliveries_total', { path: 'triggered' })).toBe(3);
    expect(v('herald_live_deliveries_total', { path: 'fanout' })).toBe(1);
    expect(v('herald_deliveries_total', { channel: 'ws' })).toBe(4);
    expect(v('herald_delivery_latency_seconds_count')).toBe(3);
    const latencySum = v('herald_delivery_latency_seconds_sum');
    expect(latencySum).toBeGreaterThan(0);
    expect(latencySum).toBeLessThan(30);
    expect(v('herald_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(v('herald_connections')).toBeGreaterThanOrEqual(2);
    expect(v('herald_connections_opened_total')).toBeGreaterThanOrEqual(2);
    expect(v('herald_subscribed_users')).toBe(1);
    expect(v('herald_fanout_relayed_batches_total')).toBe(1);
    expect(v('herald_fanout_relayed_notified_total')).toBe(1);
    expect(v('herald_gateway_process_resident_memory_bytes')).toBeGreaterThan(0);

    // Every node, labelled.
    const nodes = Object.keys(cluster.info.nodes).sort();
    expect(Object.keys(byLabel(samples, 'herald_node_up', 'node')).sort()).toEqual(nodes);
    expect(v('herald_node_up')).toBe(3);
    expect(Object.keys(byLabel(samples, 'herald_channel_pending_events', 'node')).sort()).toEqual(nodes);
    expect(v('herald_channel_pending_events')).toBe(0);
    expect(v('herald_channel_pending_events_max')).toBeGreaterThanOrEqual(1);
    expect(v('herald_liveness_kills_total')).toBe(0);
    for (const priority of ['triggered', 'bulk']) {
      expect(Object.keys(byLabel(samples, 'herald_node_queue_depth', 'node', { priority })).sort()).toEqual(nodes);
    }
    // 5 events accepted, each on 2 owners (actor and target on different nodes), plus the tweet on its author's.
    expect(v('herald_node_ingest_events_total')).toBe(9);
    expect(v('herald_node_notifications_total')).toBe(4); // bob's three, and alice's "followed you"
    expect(v('herald_node_active_user_actors')).toBeGreaterThanOrEqual(3);
    expect(v('herald_node_fanout_jobs_done_total')).toBe(1);
    expect(v('herald_node_fanout_notified_total')).toBe(1);
    expect(v('herald_node_shards')).toBe(256);
    // LevelDB group commits: batches, ops, and the write-latency histogram (cumulative buckets, +Inf = count).
    expect(v('herald_leveldb_batches_total', { writer: 'durable' })).toBeGreaterThan(0);
    expect(v('herald_leveldb_ops_total', { writer: 'applied' })).toBeGreaterThan(0);
    for (const node of nodes) {
      const buckets = samples
        .filter((s) => s.name === 'herald_leveldb_write_seconds_bucket' && s.labels.node === node && s.labels.writer === 'durable')
        .map((s) => s.value);
      expect(buckets.length).toBeGreaterThan(5);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]);
      expect(buckets[buckets.length - 1]).toBe(v('herald_leveldb_write_seconds_count', { node, writer: 'durable' }));
      expect(v('herald_leveldb_batch_ops_count', { node, writer: 'durable' })).toBe(v('herald_leveldb_batches_total', { node, writer: 'durable' }));
    }
  });

  it('counts refused WebSocket upgrades by code', async () => {
    await expect(TestClient.connect(cluster.info.ws, 'forged')).rejects.toMatchObject({ status: 401 });
    const r = await scrape(data.token('ops', 'admin'));
    expect(sumOf(parsePromText(await r.text()), 'herald_errors_total', { channel: 'upgrade', code: 'HERALD_UNAUTHORIZED' })).toBe(1);
  });
});
