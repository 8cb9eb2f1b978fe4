import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { ChannelConfig } from '../actors/delivery/channels';
import { resolveChannelConfig } from '../actors/delivery/channels';
import { HeraldError } from './HeraldError';

/**
 * Every option of a herald cluster, with its default, in one place (docs/operations.md lists them). Read once at
 * start by scripts/cluster.ts, validated, and passed down; nothing reads the environment behind its back.
 */
export const ConfigSchema = Type.Object(
  {
  /** Where the shard table, the token secret and each node's LevelDB (`<dataDir>/<nodeId>`) live. */
  dataDir: Type.String({ minLength: 1, default: './data' }),
  /** Local nodes to fork when the cluster is created (ignored when `hosts` is given). */
  nodes: Type.Integer({ minimum: 1, maximum: 64, default: 3 }),
  /** HTTP + WebSocket port; 0 lets the OS choose. */
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 7070 }),
  /** Address the gateway listens on. */
  bind: Type.String({ minLength: 1, default: '127.0.0.1' }),
  /** Shards, fixed when the cluster is created and stored with the shard table. */
  shards: Type.Integer({ minimum: 1, maximum: 65536, default: 256 }),
  /** Remote mode: one node per `host:port` of a `comedy-node` listener. */
  hosts: Type.Array(Type.String({ pattern: '^[^\\s:]+:[0-9]{1,5}$' }), { default: [] }),
  /** Idle time after which a user actor is passivated (dropped from memory). */
  idleMs: Type.Integer({ minimum: 10, default: 60_000 }),
  /** fsync the ingest log before acking a publish. Turning it off trades durability on power loss for speed. */
  syncWrites: Type.Boolean({ default: true }),
  /**
   * LevelDB write buffer (memtable) per node, MB. Larger than LevelDB's 4 MB: fewer level-0 files and
   * compactions under bulk writes (a shard move's import, a fanout), measured in docs/benchmarks.md.
   */
  writeBufferMb: Type.Integer({ minimum: 1, maximum: 512, default: 32 }),
  /** Deadline of every gateway → node call; past it the publish answers HERALD_UNAVAILABLE. */
  callTimeoutMs: Type.Integer({ minimum: 100, default: 5_000 }),
  /** Largest frame on a gateway ↔ node or node ↔ node link; a peer sending more is disconnected. */
  linkMaxFrame: Type.Integer({ minimum: 1024 * 1024, default: 64 * 1024 * 1024 }),
  /** How often the gateway pings every node. */
  livenessIntervalMs: Type.Integer({ minimum: 50, default: 1_000 }),
  /** A local node silent this long is killed and respawned (a hung or SIGSTOPped process). */
  livenessTimeoutMs: Type.Integer({ minimum: 100, default: 5_000 }),
  /** How long event ids are remembered for deduplication (producer retries). */
  dedupeWindowMs: Type.Integer({ minimum: 1_000, default: 24 * 3600 * 1000 }),
  /** Timeline entries kept per user (retention); a resume from before them answers recovered:false. */
  timelineMax: Type.Integer({ minimum: 1, default: 1_000 }),
  /** Followings ranked per user for personalized fanout (Top-N). */
  topN: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  /** An author ranked this high in a follower's Top-N is notified about even without a matching entity. */
  alwaysRank: Type.Integer({ minimum: 0, maximum: 1000, default: 5 }),
  /** Entities a user engaged with are remembered this long... */
  entityWindowMs: Type.Integer({ minimum: 1000, default: 7 * 24 * 3600 * 1000 }),
  /** ...and at most this many per user. */
  maxEntities: Type.Integer({ minimum: 1, maximum: 10_000, default: 200 }),
  /** Affinity and entity scores halve every this long. */
  affinityHalfLifeMs: Type.Integer({ minimum: 1000, default: 7 * 24 * 3600 * 1000 }),
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
  /** Push/SMS providers (webhooks) and the SMTP server: docs/channels.md. Absent channels send nothing. */
  channels: Type.Optional(Type.Unsafe<ChannelConfig>(Type.Object({}, { additionalProperties: true }))),
  /** Push fatigue: at most `max` pushes per user in `windowMs`, at least `minGapMs` apart. */
  pushCap: Type.Object(
    { max: Type.Integer({ minimum: 0 }), windowMs: Type.Integer({ minimum: 1 }), minGapMs: Type.Integer({ minimum: 0 }) },
    { default: { max: 5, windowMs: 24 * 3600_000, minGapMs: 30 * 60_000 }, additionalProperties: false },
  ),
  /** The same, per notification type (e.g. mentions allowed more often). */
  pushCapByType: Type.Record(
    Type.String(),
    Type.Object({ max: Type.Integer({ minimum: 0 }), windowMs: Type.Integer({ minimum: 1 }), minGapMs: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    { default: {} },
  ),
  /** Sender workers: sends in flight per channel, attempts before a dead letter, backoff bounds. */
  sender: Type.Object(
    { concurrency: Type.Integer({ minimum: 1, maximum: 256 }), maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }), baseBackoffMs: Type.Integer({ minimum: 1 }), maxBackoffMs: Type.Integer({ minimum: 1 }) },
    { default: { concurrency: 8, maxAttempts: 5, baseBackoffMs: 1000, maxBackoffMs: 300_000 }, additionalProperties: false },
  ),
  /** Likes/retweets of one tweet within this window collapse into one timeline entry (0 = never). */
  aggregateWindowMs: Type.Integer({ minimum: 0, default: 3600_000 }),
  /** Retention by age: a cleanup job removes timeline entries older than this. */
  timelineMaxAgeMs: Type.Integer({ minimum: 60_000, default: 90 * 24 * 3600_000 }),
  /** Followers read per page of a fanout: one batch per node per page. */
  fanoutPageSize: Type.Integer({ minimum: 1, maximum: 100_000, default: 5_000 }),
  /** A batch to a node goes when it holds this many events... */
  batchMax: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** ...or when its oldest event has waited this long. */
  batchDelayMs: Type.Number({ minimum: 0, maximum: 1_000, default: 2 }),
  /** Events queued or in flight per node before publishes answer HERALD_OVERLOADED. */
  maxPendingPerNode: Type.Integer({ minimum: 1, default: 5_000 }),
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
  logLevel: Type.Union([Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')], { default: 'info' }),
  },
  // A misspelt option is an error, not a silently ignored one.
  { additionalProperties: false },
);

export type HeraldConfig = Static<typeof ConfigSchema>;

/** Fills defaults, then validates; throws HERALD_INVALID_MESSAGE naming the first bad option. */
export function loadConfig(input: Partial<HeraldConfig>): HeraldConfig {
  const clean = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const config = Value.Default(ConfigSchema, structuredClone(clean)) as HeraldConfig;
  const first = Value.Errors(ConfigSchema, config).First();
  if (first) throw new HeraldError('HERALD_INVALID_MESSAGE', `invalid option ${first.path.slice(1) || '(root)'}: ${first.message}`);
  // Channel settings are checked now, not at the first send.
  if (config.channels) resolveChannelConfig(config.channels);
  return config;
}
