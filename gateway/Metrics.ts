import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SentItem } from '../cluster/NodeChannel';
import type { WriterStats } from '../core/NodeStats';
import { Buckets } from '../storage/GroupCommit';

/**
 * GET /metrics (Prometheus text format, prom-client). Gateway-side figures are prom-client counters and
 * histograms updated by small hooks on the paths they count; node-side figures are read from every node's
 * `stats` op when Prometheus scrapes, and exposed with a `node` label. docs/operations.md lists every metric.
 *
 * Hot-path rule: hooks only bump pre-bound counters or count one latency bucket per delivery; nothing here
 * allocates per event (labelled children are bound once; per-batch work walks arrays the caller already has, or
 * indexes a batch once).
 */

export type Channel = 'ws' | 'http';

/** What the latency metric needs of a triggered delivery: the index of its batch item. */
export interface TriggeredDelivery {
  item?: number;
}

/**
 * What the metrics read of a node's `stats` reply (core/NodeStats.ts), every field optional: a node that did not
 * answer is `{nodeId, error}`.
 */
export interface NodeStats {
  nodeId: string;
  error?: string;
  shards?: number;
  activeUsers?: number;
  batches?: number;
  events?: number;
  notifications?: number;
  activations?: number;
  passivations?: number;
  replayed?: number;
  fanoutBatches?: number;
  fanoutDecided?: number;
  fanoutNotified?: number;
  fanout?: { jobs?: number; pages?: number; followers?: number; notified?: number; messages?: number; active?: string; running?: boolean };
  rss?: number;
  queued?: { triggered?: number; bulk?: number };
  senders?: Record<string, { pruned?: number }>;
  store?: { durable?: WriterStats; applied?: WriterStats };
}

export interface MetricsSources {
  /** Every node's stats (a node that failed to answer: `{nodeId, error}`). Called once per scrape. */
  nodeStats: () => Promise<NodeStats[]>;
  /** Per node: events queued or in flight to it now, and the most there ever were (NodeChannel). */
  channelDepths: () => Iterable<[string, number, number]>;
  /** Per node: times the gateway killed it for not answering pings (cluster/Liveness.ts). */
  livenessKills?: () => Record<string, number>;
  /** Open WebSockets. */
  connections: () => number;
  /** Users with at least one live subscription on this gateway. */
  subscribedUsers: () => number;
}

/** Seconds; publish → delivery on this machine is ms-scale, tens of seconds under overload. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Value = { labels?: Record<string, string | number>; value: number; metricName?: string };

/**
 * A metric whose values are computed at scrape time from the last node snapshot. prom-client's Registry only needs
 * `name` and `get()`; its own Histogram cannot take buckets counted in another process, so this one can.
 */
class SnapshotMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly values: () => Value[],
  ) {}

  get() {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' as const };
  }

  reset(): void {}
}

export class Metrics {
  readonly registry = new Registry();
  private nodes: NodeStats[] = [];

  private readonly eventsIn: Counter<'channel'>;
  private readonly eventsAcked: Counter<'channel'>;
  private readonly eventsRejected: Counter<'channel' | 'code'>;
  private readonly errors: Counter<'channel' | 'code'>;
  /** Counted here and rendered at scrape: a prom-client observe per delivery showed in the gateway's profile. */
  private readonly latency = new Buckets(LATENCY_BUCKETS);
  private readonly liveDeliveries: Counter<'path'>;
  private readonly fanoutRelayed: Counter<'node'>;
  private readonly fanoutRelayedFollowers: Counter<'node'>;
  private readonly fanoutRelayedNotified: Counter<'node'>;
  private readonly connectionsOpened: Counter;
  /** Notifications sent on sockets since the last scrape. */
  private sentWs = 0;
  /** Children bound once, so the per-event hooks never build a label object. */
  private readonly bound: {
    in: Record<Channel, Counter.Internal>;
    acked: Record<Channel, Counter.Internal>;
    sentWs: Counter.Internal;
    triggered: Counter.Internal;
    fanout: Counter.Internal;
  };

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_gateway_' });
    this.eventsIn = new Counter({
      name: 'herald_events_received_total',
      help: 'Events in valid publishes received by the gateway',
      labelNames: ['channel'],
      registers,
    });
    this.eventsAcked = new Counter({
      name: 'herald_events_acked_total',
      help: 'Events acked to producers (durably written by every owner)',
      labelNames: ['channel'],
      registers,
    });
    this.eventsRejected = new Counter({
      name: 'herald_events_rejected_total',
      help: 'Events of publishes refused after validation (the whole publish fails with the code)',
      labelNames: ['channel', 'code'],
      registers,
    });
    this.errors = new Counter({
      name: 'herald_errors_total',
      help: 'Error replies by code: WS error messages, HTTP error statuses, refused WS upgrades (channel "upgrade")',
      labelNames: ['channel', 'code'],
      registers,
    });
    this.registry.registerMetric(
      new SnapshotMetric(
        'herald_delivery_latency_seconds',
        'Gateway receipt of a triggered event to the send of its notification on a live socket',
        'histogram',
        () => bucketValues('herald_delivery_latency_seconds', {}, this.latency),
      ) as never,
    );
    const sent = new Counter({
      name: 'herald_deliveries_total',
      help: 'Notifications sent to clients, by channel (live and replayed)',
      labelNames: ['channel'],
      registers,
      // Counted in a plain number per send and added here, at scrape.
      collect: () => {
        if (this.sentWs === 0) return;
        this.bound.sentWs.inc(this.sentWs);
        this.sentWs = 0;
      },
    });
    this.liveDeliveries = new Counter({
      name: 'herald_live_deliveries_total',
      help: 'Notifications handed to at least one live subscription, by path (triggered ingest, fanout)',
      labelNames: ['path'],
      registers,
    });
    this.fanoutRelayed = new Counter({
      name: 'herald_fanout_relayed_batches_total',
      help: 'Fanout batches a node decided for an author on another node (sent node to node), by deciding node',
      labelNames: ['node'],
      registers,
    });
    this.fanoutRelayedFollowers = new Counter({
      name: 'herald_fanout_relayed_followers_total',
      help: 'Followers decided in fanout batches from another node, by deciding node',
      labelNames: ['node'],
      registers,
    });
    this.fanoutRelayedNotified = new Counter({
      name: 'herald_fanout_relayed_notified_total',
      help: 'Followers notified by fanout batches from another node, by deciding node',
      labelNames: ['node'],
      registers,
    });
    this.connectionsOpened = new Counter({ name: 'herald_connections_opened_total', help: 'WebSockets accepted', registers });
    new Gauge({
      name: 'herald_connections',
      help: 'Open WebSockets',
      registers,
      collect() {
        this.set(sources.connections());
      },
    });
    new Gauge({
      name: 'herald_subscribed_users',
      help: 'Users with at least one live subscription on this gateway',
      registers,
      collect() {
        this.set(sources.subscribedUsers());
      },
    });
    new Gauge({
      name: 'herald_channel_pending_events',
      help: 'Events queued or in flight from the gateway to a node (HERALD_OVERLOADED past maxPendingPerNode)',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const [node, depth] of sources.channelDepths()) this.set({ node }, depth);
      },
    });
    new Gauge({
      name: 'herald_channel_pending_events_max',
      help: 'The most events ever queued or in flight from the gateway to a node at once (since the gateway started)',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const [node, , max] of sources.channelDepths()) this.set({ node }, max);
      },
    });
    this.registry.registerMetric(
      new SnapshotMetric('herald_liveness_kills_total', 'Times the gateway killed a node that stopped answering pings (comedy respawns it)', 'counter', () =>
        Object.entries(sources.livenessKills?.() ?? {}).map(([node, value]) => ({ labels: { node }, value })),
      ) as never,
    );
    this.bound = {
      in: { ws: this.eventsIn.labels('ws'), http: this.eventsIn.labels('http') },
      acked: { ws: this.eventsAcked.labels('ws'), http: this.eventsAcked.labels('http') },
      sentWs: sent.labels('ws'),
      triggered: this.liveDeliveries.labels('triggered'),
      fanout: this.liveDeliveries.labels('fanout'),
    };
    this.registerNodeMetrics();
  }

  // ---- hooks (gateway hot path)

  /** A valid publish of `n` events arrived. */
  received(channel: Channel, n: number): void {
    this.bound.in[channel].inc(n);
  }

  acked(channel: Channel, n: number): void {
    this.bound.acked[channel].inc(n);
  }

  rejected(channel: Channel, code: string, n: number): void {
    this.eventsRejected.inc({ channel, code }, n);
  }

  error(channel: Channel | 'upgrade', code: string): void {
    this.errors.inc({ channel, code });
  }

  connectionOpened(): void {
    this.connectionsOpened.inc();
  }

  /** A notification went out on a socket (Session). */
  sentOnWs(): void {
    this.sentWs++;
  }

  /**
   * The notifications of one ingest batch: hands each to `deliver` (which answers how many live subscriptions
   * took it) and, for those with one, counts receipt → send from the receipt of the batch item it names (`item`,
   * as nodes answer ingests); one without an item counts from the batch's oldest receipt, an upper bound.
   */
  deliveredTriggered<D extends TriggeredDelivery>(deliveries: readonly D[], sent: readonly SentItem[], deliver: (d: D) => number): void {
    let now = 0;
    let live = 0;
    for (const d of deliveries) {
      if (deliver(d) === 0) continue;
      live++;
      const at = (d.item !== undefined && d.item >= 0 ? sent[d.item]?.at : undefined) ?? sent[0]?.at;
      if (at === undefined) continue;
      now ||= performance.now();
      this.latency.observe((now - at) / 1000);
    }
    if (live) this.bound.triggered.inc(live);
  }

  /** `node` decided a fanout batch from another node; `delivered` of its notifications reached a live subscription. */
  relayed(node: string, decided: number, notified: number, delivered: number): void {
    this.fanoutRelayed.inc({ node });
    if (decided) this.fanoutRelayedFollowers.inc({ node }, decided);
    if (notified) this.fanoutRelayedNotified.inc({ node }, notified);
    if (delivered) this.bound.fanout.inc(delivered);
  }

  // ---- scrape

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads every node's stats, then renders every metric. */
  async scrape(): Promise<string> {
    this.nodes = await this.sources.nodeStats();
    return this.registry.metrics();
  }

  private registerNodeMetrics(): void {
    const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => Value[]) =>
      this.registry.registerMetric(new SnapshotMetric(name, help, type, values) as never);
    const ok = () => this.nodes.filter((n) => !n.error);
    const perNode = (name: string, help: string, type: 'counter' | 'gauge', pick: (n: NodeStats) => number | undefined) =>
      add(name, help, type, () =>
        ok().flatMap((n) => {
          const v = pick(n);
          return typeof v === 'number' ? [{ labels: { node: n.nodeId }, value: v }] : [];
        }),
      );

    add('herald_node_up', 'The node answered its stats call for this scrape (1) or not (0)', 'gauge', () =>
      this.nodes.map((n) => ({ labels: { node: n.nodeId }, value: n.error ? 0 : 1 })),
    );
    perNode('herald_node_shards', 'Shards the node owns', 'gauge', (n) => n.shards);
    perNode('herald_node_active_user_actors', 'User actors in memory (activated, not yet passivated)', 'gauge', (n) => n.activeUsers);
    perNode('herald_node_ingest_batches_total', 'Ingest batches logged by the node', 'counter', (n) => n.batches);
    perNode('herald_node_ingest_events_total', 'Events accepted by the node (after fencing)', 'counter', (n) => n.events);
    perNode('herald_node_notifications_total', 'Timeline entries created by triggered events', 'counter', (n) => n.notifications);
    perNode('herald_node_activations_total', 'User actors activated', 'counter', (n) => n.activations);
    perNode('herald_node_passivations_total', 'User actors passivated', 'counter', (n) => n.passivations);
    perNode('herald_node_replayed_events_total', 'Events replayed from the ingest log at start', 'counter', (n) => n.replayed);
    perNode(
      'herald_node_push_tokens_pruned_total',
      "Push tokens removed from users' settings: the provider answered 410 Gone",
      'counter',
      (n) => n.senders?.push?.pruned,
    );
    perNode('herald_node_rss_bytes', 'Resident memory of the node process', 'gauge', (n) => n.rss);
    add('herald_node_queue_depth', 'Work accepted by the node and not yet answered: triggered = ingest events, bulk = fanout followers', 'gauge', () =>
      ok().flatMap((n) => [
        { labels: { node: n.nodeId, priority: 'triggered' }, value: n.queued?.triggered ?? 0 },
        { labels: { node: n.nodeId, priority: 'bulk' }, value: n.queued?.bulk ?? 0 },
      ]),
    );
    // Fanout, author side (the node's FanoutRunner) and follower side (batches it decided).
    perNode('herald_node_fanout_jobs_done_total', 'Fanout jobs (tweets) finished by the author node', 'counter', (n) => n.fanout?.jobs);
    perNode('herald_node_fanout_pages_total', 'Follower pages sent by the author node', 'counter', (n) => n.fanout?.pages);
    perNode('herald_node_fanout_followers_paged_total', 'Followers paged by the author node', 'counter', (n) => n.fanout?.followers);
    perNode('herald_node_fanout_messages_total', 'Fanout batches sent by the author node (one per node per page)', 'counter', (n) => n.fanout?.messages);
    perNode('herald_node_fanout_active_jobs', 'A fanout job is running on the node (0 or 1: one at a time)', 'gauge', (n) =>
      n.fanout ? (n.fanout.active || n.fanout.running ? 1 : 0) : undefined,
    );
    perNode('herald_node_fanout_batches_total', "Fanout batches decided by the node as the followers' owner", 'counter', (n) => n.fanoutBatches);
    perNode('herald_node_fanout_decided_total', 'Followers decided by the node', 'counter', (n) => n.fanoutDecided);
    perNode('herald_node_fanout_notified_total', 'Followers the node notified', 'counter', (n) => n.fanoutNotified);
    // LevelDB through GroupCommit: `durable` (fsynced ingest log, fanout entries) and `applied` (effects).
    const writers = (pick: (w: WriterStats) => number) => () =>
      ok().flatMap((n) =>
        (['durable', 'applied'] as const).flatMap((writer) => {
          const w = n.store?.[writer];
          return w ? [{ labels: { node: n.nodeId, writer }, value: pick(w) }] : [];
        }),
      );
    add(
      'herald_leveldb_batches_total',
      'LevelDB batch writes (group commits)',
      'counter',
      writers((w) => w.batches),
    );
    add(
      'herald_leveldb_ops_total',
      'Puts and deletes written in those batches',
      'counter',
      writers((w) => w.ops),
    );
    add(
      'herald_leveldb_max_batch_ops',
      'Largest batch written since the node started',
      'gauge',
      writers((w) => w.maxBatch),
    );
    const histogram = (name: string, help: string, pick: (w: WriterStats) => WriterStats['writeSeconds'] | undefined) =>
      add(name, help, 'histogram', () =>
        ok().flatMap((n) =>
          (['durable', 'applied'] as const).flatMap((writer) => {
            const w = n.store?.[writer];
            const h = w && pick(w);
            return h ? bucketValues(name, { node: n.nodeId, writer }, h) : [];
          }),
        ),
      );
    histogram('herald_leveldb_write_seconds', 'Duration of one LevelDB batch write (with its fsync for durable)', (w) => w.writeSeconds);
    histogram('herald_leveldb_batch_ops', 'Ops per LevelDB batch write', (w) => w.batchOps);
  }
}

/** Prometheus histogram lines from per-bucket (non-cumulative) counts. */
function bucketValues(name: string, labels: Record<string, string>, h: WriterStats['writeSeconds']): Value[] {
  const out: Value[] = [];
  let cumulative = 0;
  h.bounds.forEach((le, i) => {
    cumulative += h.counts[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  });
  cumulative += h.counts[h.bounds.length] ?? 0;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}
