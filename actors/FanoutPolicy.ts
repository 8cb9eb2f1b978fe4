import type { UserId } from './Event';
import type { InterestProfile } from './InterestProfile';

export interface FanoutPolicyOptions {
  /** The author must rank within the follower's Top-N followings (N = the profile's topN). @defaultValue true */
  requireTopN: boolean;
  /** An author ranked this high is notified about even without a matching entity. @defaultValue 5 */
  alwaysRank: number;
}

export const DEFAULT_POLICY: FanoutPolicyOptions = { requireTopN: true, alwaysRank: 5 };

/** A decision with the inputs that made it, so `explain` can answer "why did (not) I get this?". */
export interface FanoutDecision {
  notify: boolean;
  reason?: string;
  /** Rank of the author among the follower's Top-N followings (0 = not in it). */
  rank: number;
  topN: number;
  matchingEntities: string[];
  policy: FanoutPolicyOptions;
}

/**
 * Personalized fanout, decided per follower from the follower's own data only: notify when the author is in
 * the follower's Top-N followings and (the tweet's entities meet the follower's recent engagements, or the
 * author ranks in the follower's top `alwaysRank`).
 */
export function decide(profile: InterestProfile, author: UserId, entities: readonly string[], now: number, policy = DEFAULT_POLICY): FanoutDecision {
  const rank = profile.rankOf(author);
  const matchingEntities = profile.matching(entities, now);
  const base = { rank, topN: profile.topFollowings.length, matchingEntities, policy };
  if (policy.requireTopN && rank === 0) return { notify: false, ...base };
  if (matchingEntities.length) return { notify: true, reason: `top-following+entity:${matchingEntities.join(',')}`, ...base };
  if (rank > 0 && rank <= policy.alwaysRank) return { notify: true, reason: `top-${policy.alwaysRank}-following`, ...base };
  return { notify: false, ...base };
}
