import type { UserId } from '../../core/Event';
import { decide } from '../../actors/fanout/FanoutPolicy';
import { DEFAULT_POLICY } from '../../core/config';
import type { InterestProfile } from '../../actors/user/InterestProfile';
import type { Edge } from './Edge';

/**
 * Whom the default fanout policy will notify for a tweet by `--expect-author` with `--expect-entities`, decided on
 * each follower's imported profile as it is written: a benchmark compares the cluster's fanout against it.
 */
export interface Expected {
  author: UserId;
  entities: string[];
  /** Followers of the author. */
  followers: number;
  /** Of them, notified by the default policy for a tweet with `entities`. */
  chosen: number;
  fraction: number;
  reasons: Record<string, number>;
  /** Up to --sample chosen (and not chosen) followers per node. */
  chosen_sample: Record<string, UserId[]>;
  not_chosen_sample: Record<string, UserId[]>;
}

/** One node's part of `Expected`, counted by its worker. */
export interface NodeExpected {
  followers: number;
  chosen: number;
  reasons: Record<string, number>;
  chosen_sample: UserId[];
  not_chosen_sample: UserId[];
}

/** Counts one node's followers of the author and the policy's decision on each. */
export class ExpectedTally {
  readonly counts: NodeExpected = { followers: 0, chosen: 0, reasons: {}, chosen_sample: [], not_chosen_sample: [] };

  constructor(
    private readonly author: UserId | undefined,
    private readonly entities: string[],
    private readonly sample: number,
    private readonly now: number,
  ) {}

  /** Follower `f` with its followings `list` and the profile they built: decided if it follows the author. */
  record(f: UserId, list: Edge[], profile: InterestProfile): void {
    const c = this.counts;
    if (!this.author || !list.some((e) => e.followee === this.author)) return;
    c.followers++;
    const d = decide(profile, this.author, this.entities, this.now, DEFAULT_POLICY);
    const samples = d.notify ? c.chosen_sample : c.not_chosen_sample;
    if (samples.length < this.sample) samples.push(f);
    if (d.notify) {
      c.chosen++;
      const reason = d.reason!.startsWith('top-following+entity') ? 'top-following+entity' : d.reason!;
      c.reasons[reason] = (c.reasons[reason] ?? 0) + 1;
    }
  }
}

/** The nodes' tallies as one report (`nodes[k]`'s tally is `perNode[k]`). */
export function mergeExpected(author: UserId, entities: string[], nodes: string[], perNode: NodeExpected[]): Expected {
  const reasons: Record<string, number> = {};
  for (const r of perNode) for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
  const chosen = perNode.reduce((a, r) => a + r.chosen, 0);
  const followers = perNode.reduce((a, r) => a + r.followers, 0);
  return {
    author,
    entities,
    followers,
    chosen,
    fraction: Math.round((chosen / Math.max(1, followers)) * 10_000) / 10_000,
    reasons,
    chosen_sample: Object.fromEntries(nodes.map((n, k) => [n, perNode[k].chosen_sample])),
    not_chosen_sample: Object.fromEntries(nodes.map((n, k) => [n, perNode[k].not_chosen_sample])),
  };
}
