import { Type, type Static, type TProperties } from '@sinclair/typebox';
import type { ChannelConfig } from './channels';

/**
 * Every option of a herald cluster, with its default, in one place (docs/operations.md lists them), in named
 * slices: the part each component is given. A config file holds them flat, as one object.
 */

/** How much a process logs (pino's levels). */
export const LogLevelSchema = Type.Union([
  Type.Literal('trace'),
  Type.Literal('debug'),
  Type.Literal('info'),
  Type.Literal('warn'),
  Type.Literal('error'),
  Type.Literal('silent'),
]);

/** Where the cluster lives and how it is made. */
const ClusterSlice = {
  /** Where the shard table, the token secret and each node's LevelDB (`<dataDir>/<nodeId>`) live. */
  dataDir: Type.String({ minLength: 1, default: './data' }),
  /** Local nodes to fork when the cluster is created (ignored when `hosts` is given). */
  nodes: Type.Integer({ minimum: 1, maximum: 64, default: 3 }),
  /** Shards, fixed when the cluster is created and stored with the shard table. */
  shards: Type.Integer({ minimum: 1, maximum: 65536, default: 256 }),
  /** Remote mode: one node per `host:port` of a `comedy-node` listener. */
  hosts: Type.Array(Type.String({ pattern: '^[^\\s:]+:[0-9]{1,5}$' }), { default: [] }),
  logLevel: Type.Union(LogLevelSchema.anyOf, { default: 'info' }),
} satisfies TProperties;

/** The gateway ↔ node calls and the nodes' liveness. */
const RuntimeSlice = {
  /** Deadline of every gateway → node call; past it the publish answers HERALD_UNAVAILABLE. */
  callTimeoutMs: Type.Integer({ minimum: 100, default: 5_000 }),
  /** Largest frame on a gateway ↔ node or node ↔ node link; a peer sending more is disconnected. */
  linkMaxFrame: Type.Integer({ minimum: 1024 * 1024, default: 64 * 1024 * 1024 }),
  /** How often the gateway pings every node. */
  livenessIntervalMs: Type.Integer({ minimum: 50, default: 1_000 }),
  /** A local node silent this long is killed and respawned (a hung or SIGSTOPped process). */
  livenessTimeoutMs: Type.Integer({ minimum: 100, default: 5_000 }),
} satisfies TProperties;

/** A node: its store, its user actors and their timelines. */
const NodeSlice = {
  /** Idle time after which a user actor is passivated (dropped from memory). */
  idleMs: Type.Integer({ minimum: 10, default: 60_000 }),
  /** fsync the ingest log before acking a publish. Turning it off trades durability on power loss for speed. */
  syncWrites: Type.Boolean({ default: true }),
  /**
   * LevelDB write buffer (memtable) per node, MB. Larger than LevelDB's 4 MB: fewer level-0 files and
   * compactions under bulk writes (a shard move's import, a fanout), measured in docs/benchmarks.md.
   */
  writeBufferMb: Type.Integer({ minimum: 1, maximum: 512, default: 32 }),
  /** How long event ids are remembered for deduplication (producer retries). */
  dedupeWindowMs: Type.Integer({ minimum: 1_000, default: 24 * 3600 * 1000 }),
  /** Timeline entries kept per user (retention); a resume from before them answers recovered:false. */
  timelineMax: Type.Integer({ minimum: 1, default: 1_000 }),
  /** Likes/retweets of one tweet within this window collapse into one timeline entry (0 = never). */
  aggregateWindowMs: Type.Integer({ minimum: 0, default: 3600_000 }),
  /** Retention by age: a cleanup job removes timeline entries older than this. */
  timelineMaxAgeMs: Type.Integer({ minimum: 60_000, default: 90 * 24 * 3600_000 }),
} satisfies TProperties;

/** Personalized fanout: who among an author's followers hears of a tweet (docs/fanout.md). */
const FanoutSlice = {
  /** Followings ranked per user for personalized fanout (Top-N). */
  topN: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  /** An author ranked this high in a follower's Top-N is notified about even without a matching entity. */
  alwaysRank: Type.Integer({ minimum: 0, maximum: 1000, default: 5 }),
  /** Entities a user engaged with are remembered this long... */
  entityWindowMs: Type.Integer({ minimum: 1000, default: 7 * 24 * 3600 * 1000 }),
  /** ...and at most this many per user. */
  maxEntities: Type.Integer({ minimum: 1, maximum: 10_000, default: 200 }),
  /**
   * An entity matches a tweet only while its decayed score is at least this: at 0.5, one like (weight 1) matches
   * for one half-life, the window at the defaults; a profile stored before keeps a long-ago entity's low score.
   */
  entityMinScore: Type.Number({ minimum: 0, default: 0.5 }),
  /** Affinity and entity scores halve every this long. */
  affinityHalfLifeMs: Type.Integer({ minimum: 1000, default: 7 * 24 * 3600 * 1000 }),
  /** Followers read per page of a fanout: one batch per node per page. */
  fanoutPageSize: Type.Integer({ minimum: 1, maximum: 100_000, default: 5_000 }),
} satisfies TProperties;

const PushCapSchema = Type.Object(
  { max: Type.Integer({ minimum: 0 }), windowMs: Type.Integer({ minimum: 1 }), minGapMs: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);

/** Outbound delivery: push, SMS and email (docs/notifications.md, docs/channels.md). */
const DeliverySlice = {
  /** Push/SMS providers (webhooks) and the SMTP server: docs/channels.md. Absent channels send nothing. */
  channels: Type.Optional(Type.Unsafe<ChannelConfig>(Type.Object({}, { additionalProperties: true }))),
  /** Push fatigue: at most `max` pushes per user in `windowMs`, at least `minGapMs` apart. */
  pushCap: Type.Object(PushCapSchema.properties, { default: { max: 5, windowMs: 24 * 3600_000, minGapMs: 30 * 60_000 }, additionalProperties: false }),
  /** The same, per notification type (e.g. mentions allowed more often). */
  pushCapByType: Type.Record(Type.String(), PushCapSchema, { default: {} }),
  /** Sender workers: sends in flight per channel, attempts before a dead letter, backoff bounds. */
  sender: Type.Object(
    {
      concurrency: Type.Integer({ minimum: 1, maximum: 256 }),
      maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }),
      baseBackoffMs: Type.Integer({ minimum: 1 }),
      maxBackoffMs: Type.Integer({ minimum: 1 }),
    },
    { default: { concurrency: 8, maxAttempts: 5, baseBackoffMs: 1000, maxBackoffMs: 300_000 }, additionalProperties: false },
  ),
} satisfies TProperties;

/** Shard moves (docs/rebalancing.md). */
const MoveSlice = {
  /** Events held for one moving shard during a handoff; past it, publishes answer HERALD_UNAVAILABLE. */
  moveBufferMax: Type.Integer({ minimum: 1, default: 10_000 }),
  /** Keys per message when a shard moves. */
  moveBatchKeys: Type.Integer({ minimum: 1, maximum: 100_000, default: 2_000 }),
  /** Pause between those messages: limits a move's share of the nodes' time (0 = as fast as it goes). */
  moveThrottleMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
  /**
   * Keys a rebalance copies (and old owners delete) per second, all its moves together: unpaced, a 1 M-user
   * rebalance stalled the nodes (docs/benchmarks.md). 65,000 of today's keys are ~3.2 MB/s, what 50,000 were before
   * the fanout candidate index added its small keys. 0 = as fast as it goes.
   */
  moveKeysPerS: Type.Integer({ minimum: 0, default: 65_000 }),
} satisfies TProperties;

/** How the gateway batches events per node. */
const RoutingSlice = {
  /** A batch to a node goes when it holds this many events... */
  batchMax: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** ...or when its oldest event has waited this long. */
  batchDelayMs: Type.Number({ minimum: 0, maximum: 1_000, default: 2 }),
  /** Events queued or in flight per node before publishes answer HERALD_OVERLOADED. */
  maxPendingPerNode: Type.Integer({ minimum: 1, default: 5_000 }),
} satisfies TProperties;

/** The edge: HTTP and WebSocket, limits per connection. */
const EdgeSlice = {
  /** HTTP + WebSocket port; 0 lets the OS choose. */
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 7070 }),
  /** Address the gateway listens on. */
  bind: Type.String({ minLength: 1, default: '127.0.0.1' }),
  /** Largest WebSocket frame and HTTP body, in bytes. */
  maxPayload: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024 }),
  /** Events in one publish. */
  maxEventsPerPublish: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** A socket whose unsent bytes pass this is closed (4008 HERALD_SLOW_CONSUMER): a slow reader never grows memory. */
  maxBufferedBytes: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),
  /** Browser origins allowed to open a socket (exact match, e.g. https://app.example.com); empty = any. */
  allowedOrigins: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /** Open sockets per user; one more is refused with 429 HERALD_TOO_MANY_CONNECTIONS. */
  maxConnectionsPerUser: Type.Integer({ minimum: 1, default: 16 }),
  /** Messages per second a socket may send (token bucket); past it: HERALD_RATE_LIMITED, message dropped. */
  rateLimitPerSec: Type.Number({ minimum: 1, default: 200 }),
  /** Messages a socket may send at once before the rate applies. */
  rateBurst: Type.Integer({ minimum: 1, default: 400 }),
  /** Ping interval; a socket that missed a pong by the next ping is closed. */
  heartbeatMs: Type.Integer({ minimum: 100, default: 30_000 }),
  /** Lifetime of the demo token printed at start. */
  demoTokenTtlSec: Type.Integer({ minimum: 60, default: 24 * 3600 }),
} satisfies TProperties;

export const ConfigSchema = Type.Object(
  { ...ClusterSlice, ...EdgeSlice, ...RuntimeSlice, ...RoutingSlice, ...NodeSlice, ...FanoutSlice, ...DeliverySlice, ...MoveSlice },
  // A misspelt option is an error, not a silently ignored one.
  { additionalProperties: false },
);

export type HeraldConfig = Static<typeof ConfigSchema>;

type SliceOf<P extends TProperties> = Pick<HeraldConfig, keyof P & keyof HeraldConfig>;
export type ClusterConfig = SliceOf<typeof ClusterSlice>;
export type EdgeConfig = SliceOf<typeof EdgeSlice>;
export type RuntimeConfig = SliceOf<typeof RuntimeSlice>;
export type RoutingConfig = SliceOf<typeof RoutingSlice>;
export type NodeConfig = SliceOf<typeof NodeSlice>;
export type FanoutConfig = SliceOf<typeof FanoutSlice>;
export type DeliveryConfig = SliceOf<typeof DeliverySlice>;
export type MoveConfig = SliceOf<typeof MoveSlice>;
export type PushCap = Static<typeof PushCapSchema>;
export type SenderOptions = HeraldConfig['sender'];
