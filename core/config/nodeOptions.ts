import { join } from 'node:path';
import type { ChannelConfig } from './channels';
import { DEFAULT_CONFIG } from './load';
import type { HeraldConfig, PushCap, SenderOptions } from './schema';

/** How a user's interest profile ranks followings and remembers entities (the fanout slice). */
export interface ProfileOptions {
  /** Followings kept ranked. */
  topN: number;
  /** Entities kept per user. */
  maxEntities: number;
  /** An entity not engaged with for this long is forgotten (each entity from its own last engagement). */
  entityWindowMs: number;
  /** An entity matches a tweet only while its decayed score is at least this. */
  entityMinScore: number;
  /** Scores halve every this long. */
  halfLifeMs: number;
}

/** Who is notified of a followed author's tweet. */
export interface FanoutPolicyOptions {
  /** The author must rank within the follower's Top-N followings (N = the profile's topN). */
  requireTopN: boolean;
  /** An author ranked this high is notified about even without a matching entity. */
  alwaysRank: number;
}

/** What a NodeActor is given: who it is, and the options of the work it does. */
export interface NodeOptions {
  nodeId: string;
  shardCount: number;
  /** A user actor with an empty mailbox is passivated after this long without messages. */
  idleMs: number;
  /** Timeline entries kept per user (retention). */
  timelineMax: number;
  /** Event ids are remembered this long for deduplication; older dedupe keys are swept. */
  dedupeWindowMs: number;
  /** Followers read per fanout page. */
  fanoutPageSize: number;
  profile: ProfileOptions;
  policy: FanoutPolicyOptions;
  /** Likes/retweets of one tweet within this window collapse into one entry. */
  aggregateWindowMs: number;
  /** Retention by age: timeline entries older than this are removed by a periodic job. */
  timelineMaxAgeMs: number;
}

/** What a node process is given at creation (comedy `customParameters`: plain JSON), besides its link secret. */
export interface NodeParams extends NodeOptions {
  dataDir: string;
  syncWrites: boolean;
  writeBufferMb: number;
  logLevel: string;
  channels?: ChannelConfig;
  pushCap: PushCap;
  pushCapByType: Record<string, PushCap>;
  sender: SenderOptions;
}

/** A node's options, from the cluster's config: the one mapping, used by the gateway and every benchmark. */
export function nodeOptionsOf(config: HeraldConfig, nodeId: string, shardCount: number): NodeOptions {
  return {
    nodeId,
    shardCount,
    idleMs: config.idleMs,
    timelineMax: config.timelineMax,
    dedupeWindowMs: config.dedupeWindowMs,
    fanoutPageSize: config.fanoutPageSize,
    profile: {
      topN: config.topN,
      maxEntities: config.maxEntities,
      entityWindowMs: config.entityWindowMs,
      entityMinScore: config.entityMinScore,
      halfLifeMs: config.affinityHalfLifeMs,
    },
    policy: { requireTopN: true, alwaysRank: config.alwaysRank },
    aggregateWindowMs: config.aggregateWindowMs,
    timelineMaxAgeMs: config.timelineMaxAgeMs,
  };
}

/** A node process's parameters, from the cluster's config: its options, its store under `dataDir`, its channels. */
export function nodeParamsOf(config: HeraldConfig, nodeId: string, shardCount: number): NodeParams {
  return {
    ...nodeOptionsOf(config, nodeId, shardCount),
    dataDir: join(config.dataDir, nodeId),
    syncWrites: config.syncWrites,
    writeBufferMb: config.writeBufferMb,
    logLevel: config.logLevel,
    ...(config.channels ? { channels: config.channels } : {}),
    pushCap: config.pushCap,
    pushCapByType: config.pushCapByType,
    sender: config.sender,
  };
}

/**
 * A node's options at the schema's defaults: what a lone in-process node is given (unit tests, in-process
 * benchmarks, the importer's decisions).
 */
export function defaultNodeOptions(nodeId: string, shardCount: number): NodeOptions {
  return nodeOptionsOf(DEFAULT_CONFIG, nodeId, shardCount);
}

/** The interest profile's options at the schema's defaults. */
export const DEFAULT_PROFILE: Readonly<ProfileOptions> = defaultNodeOptions('', 1).profile;

/** The fanout policy at the schema's defaults. */
export const DEFAULT_POLICY: Readonly<FanoutPolicyOptions> = defaultNodeOptions('', 1).policy;
