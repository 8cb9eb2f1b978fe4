import type { FanoutPolicyOptions } from '../../core/config';
import type { UserId } from '../../core/Event';
import type { FanoutDecision } from '../../core/Fanout';
import type { InterestProfile } from '../user/InterestProfile';

/** Which arm of the policy notifies: a matching entity, the author's rank, or none (null). */
export type FanoutRule = 'entity' | 'rank' | null;

/**
 * The rule itself, over its two inputs: notify when the author is in the follower's Top-N followings (rank > 0)
 * and (the tweet's entities meet the follower's recent engagements, or the author ranks in the follower's top
 * `alwaysRank`). Shared by `decide` and the bulk path, which reads the inputs from stored bytes.
 */
export function ruleOf(rank: number, entityMatch: boolean, policy: FanoutPolicyOptions): FanoutRule {
  if (policy.requireTopN && rank === 0) return null;
  if (entityMatch) return 'entity';
  if (rank > 0 && rank <= policy.alwaysRank) return 'rank';
  return null;
}

/** The reason written on the notification (and shown by explain). */
export function reasonOf(rule: 'entity' | 'rank', matchingEntities: readonly string[], policy: FanoutPolicyOptions): string {
  return rule === 'entity' ? `top-following+entity:${matchingEntities.join(',')}` : `top-${policy.alwaysRank}-following`;
}

/**
 * Personalized fanout, decided per follower from the follower's own data only (see `ruleOf`), with its inputs.
 */
export function decide(profile: InterestProfile, author: UserId, entities: readonly string[], now: number, policy: FanoutPolicyOptions): FanoutDecision {
  const rank = profile.rankOf(author);
  const matchingEntities = profile.matching(entities, now);
  const rule = ruleOf(rank, matchingEntities.length > 0, policy);
  const base = { rank, topN: profile.topFollowings.length, matchingEntities, policy };
  return rule ? { notify: true, reason: reasonOf(rule, matchingEntities, policy), ...base } : { notify: false, ...base };
}
