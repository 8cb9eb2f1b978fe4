import type { LinkAddress } from './LinkAddress';

/**
 * What a node's `stats` op answers: its actor's counters (NodeActor.stats) and its process's figures. The gateway
 * reads it for GET /metrics and /v1/admin/stats; benchmarks and tests read the counters.
 */

/** A histogram counted in a node (storage/GroupCommit's Buckets): `counts[i]` values up to `bounds[i]`, the last above all. */
export interface BucketCounts {
  bounds: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

/** A GroupCommit writer's figures. */
export interface WriterStats {
  batches: number;
  ops: number;
  maxBatch: number;
  writeSeconds: BucketCounts;
  batchOps: BucketCounts;
}

/** The author side of fanout (FanoutRunner): jobs run, pages sent, and the job running now. */
export interface FanoutProgress {
  jobs: number;
  pages: number;
  followers: number;
  notified: number;
  messages: number;
  active: string;
  running: boolean;
}

/** One outbound channel's sender (push, SMS, email). */
export interface SenderCounters {
  sent: number;
  retried: number;
  dead: number;
  /** Push tokens removed from users' settings because the provider answered 410 Gone. */
  pruned: number;
  inFlight: number;
}

/** Who has a live subscriber (actors/node/Presence.ts), and what that saved. */
export interface PresenceStats {
  users: number;
  knownShards: number;
  presenceLiveSent: number;
  presenceAbsentSkipped: number;
}

/** What a NodeActor counts. */
export interface NodeActorStats {
  nodeId: string;
  epoch: number;
  shards: number;
  activeUsers: number;
  batches: number;
  events: number;
  notifications: number;
  replayed: number;
  activations: number;
  passivations: number;
  fanoutBatches: number;
  fanoutDecided: number;
  fanoutNotified: number;
  fanoutRuledOut: number;
  presence: PresenceStats;
  fanout: FanoutProgress;
  senders: Record<string, SenderCounters>;
}

/** A node's links: its listener, and the calls sent to and received from each peer, by op. */
export interface LinkStats {
  address?: LinkAddress;
  sent: Record<string, Record<string, number>>;
  received: Record<string, Record<string, number>>;
  /** Connections its listener refused (failed authentication, oversize frames). */
  refused: number;
}

/** The `stats` reply. */
export interface NodeStatsReply extends NodeActorStats {
  pid: number;
  rss: number;
  /** Work accepted and not yet answered: events of ingest batches, followers of fanout batches. */
  queued: { triggered: number; bulk: number };
  links: LinkStats;
  store: { durable: WriterStats; applied: WriterStats };
}
