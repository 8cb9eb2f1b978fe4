import type { FanoutPolicyOptions } from './config';
import type { HeraldEvent, UserId } from './Event';

/**
 * Personalized fanout as it crosses processes: the batch an author's node sends each follower's node and its
 * tally (`fanoutBatch`), a follower's interest profile data, and a decision with its inputs (`explain`).
 */

/** One message to one node: a page's followers that live there (with each one's shard), and the tweet. */
export interface FanoutBatch {
  epoch: number;
  event: HeraldEvent;
  followers: UserId[];
  /** `shards[i]` is the shard of `followers[i]`, read from its follower key by the author's node. */
  shards: number[];
}

/** What a node answers for a fanout batch: followers decided, and those notified. */
export interface FanoutTally {
  decided: number;
  notified: number;
}

/** A decayed score: `v` as of time `t` (ms). */
export type Scored<K> = [key: K, v: number, t: number];

/** A user's interest profile as stored (`<shard>!P!<user>`): what personalized fanout decides from. */
export interface ProfileData {
  /** Top-N followings, best first. */
  top: Array<Scored<UserId>>;
  /** Recent engagements on entities. */
  ent: Array<Scored<string>>;
}

/** A decision with the inputs that made it (actors/fanout/FanoutPolicy.ts), so `explain` can answer "why did (not) I get this?". */
export interface FanoutDecision {
  notify: boolean;
  reason?: string;
  /** Rank of the author among the follower's Top-N followings (0 = not in it). */
  rank: number;
  topN: number;
  matchingEntities: string[];
  policy: FanoutPolicyOptions;
}

/** Why a user was (or was not) notified of a tweet, from the user's node (GET /v1/explain). */
export interface FanoutExplanation {
  user: UserId;
  tweet: string;
  author: UserId;
  entities: string[];
  /** The tweet's fanout notified this user. */
  notified: boolean;
  /** The rule applied to the profile as it is now. */
  decisionNow: FanoutDecision;
  topFollowings: UserId[];
}
