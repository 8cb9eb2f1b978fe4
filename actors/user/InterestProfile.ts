import type { ProfileOptions } from '../../core/config';
import type { UserId } from '../../core/Event';
import type { ProfileData, Scored } from '../../core/Fanout';

// The profile's stored data, named here too: tests, benchmarks and the importer build profiles from it.
export type { ProfileData } from '../../core/Fanout';

/** Affinity earned by each kind of engagement, and by following (documented in docs/fanout.md). */
export const WEIGHTS = { follow: 1, like: 1, retweet: 2, mention: 2, reply: 3 } as const;

/**
 * What personalized fanout knows about one user, kept on the user's own node: its Top-N followings ranked by
 * time-decayed affinity, and its recent engagements on entities. Updated incrementally on every engagement,
 * follow and unfollow; never recomputed from scratch. All scores decay at the same rate, so an order, once
 * sorted, stays right until a score changes.
 */
export class InterestProfile {
  constructor(
    private readonly data: ProfileData = { top: [], ent: [] },
    private readonly opts: ProfileOptions,
  ) {}

  private now(s: { 1: number; 2: number }, now: number): number {
    return decayed(s[1], s[2], now, this.opts.halfLifeMs);
  }

  /** Brings every score to `now`, applies `change` to the entry `key` (creating it), sorts, keeps `max`. */
  private update<K>(list: Array<Scored<K>>, key: K, change: (v: number) => number, now: number, max: number): Array<Scored<K>> {
    const current = list.map((s) => [s[0], this.now(s, now), now] as Scored<K>);
    const hit = current.find((s) => s[0] === key);
    if (hit) hit[1] = change(hit[1]);
    else current.push([key, change(0), now]);
    current.sort((a, b) => b[1] - a[1]);
    return current.slice(0, max);
  }

  /**
   * An engagement of this user with a tweet of `target`. `affinity` is the user's affinity to the target after
   * it (see addAffinity); it ranks the target among the Top-N only if the user follows the target. The tweet's
   * entities count either way. Returns whether the profile changed (else it need not be written).
   */
  engage(target: UserId | undefined, followed: boolean, affinity: number, entities: readonly string[], weight: number, now: number): boolean {
    let changed = false;
    if (target && followed) {
      this.data.top = this.update(this.data.top, target, () => affinity, now, this.opts.topN);
      changed = true;
    }
    const cutoff = now - this.opts.entityWindowMs;
    // Most engagements carry no entities: then only expiry can change the list, and usually nothing expired.
    if (entities.length === 0 && this.data.ent.every((s) => s[2] >= cutoff)) return changed;
    const ent = this.data.ent.filter((s) => s[2] >= cutoff);
    // Only the engaged entities are re-stamped: each entity's time is its own last engagement, which the window
    // counts from (re-stamping them all kept any entity alive as long as the user engaged with anything).
    for (const e of new Set(entities.map((x) => x.toLowerCase()))) {
      const i = ent.findIndex((s) => s[0] === e);
      const engaged: Scored<string> = [e, (i < 0 ? 0 : this.now(ent[i], now)) + weight, now];
      if (i < 0) ent.push(engaged);
      else ent[i] = engaged;
    }
    this.data.ent = this.best(ent, now, this.opts.maxEntities);
    return true;
  }

  /** The `max` entries of highest score at `now`, best first, each kept as stored (its score as of its own time). */
  private best<K>(list: Array<Scored<K>>, now: number, max: number): Array<Scored<K>> {
    const ranked = list.map((s) => ({ s, v: this.now(s, now) }));
    ranked.sort((a, b) => b.v - a.v);
    return ranked.slice(0, max).map((r) => r.s);
  }

  /** Following someone ranks them with the affinity earned so far (including the follow's own weight). */
  follow(target: UserId, affinity: number, now: number): void {
    this.data.top = this.update(this.data.top, target, () => affinity, now, this.opts.topN);
  }

  unfollow(target: UserId): void {
    this.data.top = this.data.top.filter((s) => s[0] !== target);
  }

  /** 1-based rank of `author` among the Top-N followings, or 0 if absent. */
  rankOf(author: UserId): number {
    return this.data.top.findIndex((s) => s[0] === author) + 1;
  }

  /** The tweet's entities this user engaged with inside the window whose decayed score holds (`entityMatches`). */
  matching(entities: readonly string[], now: number): string[] {
    const mine = new Set(this.data.ent.filter((s) => entityMatches(s[1], s[2], now, this.opts)).map((s) => s[0]));
    return [...new Set(entities.map((e) => e.toLowerCase()))].filter((e) => mine.has(e));
  }

  get topFollowings(): UserId[] {
    return this.data.top.map((s) => s[0]);
  }

  toData(): ProfileData {
    return this.data;
  }
}

/** A score `v` as of time `t`, decayed to `now`. */
export function decayed(v: number, t: number, now: number, halfLifeMs: number): number {
  return v * Math.pow(2, -(now - t) / halfLifeMs);
}

/**
 * Whether an entity stored as `[entity, v, t]` (score `v` as of its last engagement `t`) matches a tweet at `now`:
 * engaged inside the window, and its decayed score at least `entityMinScore`. The one rule of both decision
 * paths: `matching` over a decoded profile, StoredProfileReader over its bytes.
 */
export function entityMatches(v: number, t: number, now: number, opts: ProfileOptions): boolean {
  return t >= now - opts.entityWindowMs && decayed(v, t, now, opts.halfLifeMs) >= opts.entityMinScore;
}

/** Decays a stored affinity `[v, t]` to `now` and adds `weight`: the new stored value. */
export function addAffinity(stored: [number, number] | undefined, weight: number, now: number, halfLifeMs: number): [number, number] {
  const current = stored ? decayed(stored[0], stored[1], now, halfLifeMs) : 0;
  return [current + weight, now];
}
