import { pack, unpack } from '../storage/Codec';
import { HeraldError } from '../storage/HeraldError';
import { TWEET_PREFIX, userKey } from '../storage/Keyspace';
import type { NodeStore } from '../storage/NodeStore';
import type { UserId } from './Event';
import { decide, type FanoutPolicyOptions } from './FanoutPolicy';
import type { FanoutBatch } from './FanoutRunner';
import { InterestProfile, type ProfileData, type ProfileOptions } from './InterestProfile';
import type { Delivery } from './NodeActor';
import type { ShardRegion } from './ShardRegion';

/** Fanout decisions yield the event loop at least this often (ms): triggered work never waits longer. */
const SLICE_MS = 5;
/** Followers' profiles read per batched LevelDB read. */
const PROFILE_READS = 500;

export interface FanoutResult {
  decided: number;
  notified: number;
  deliveries: Delivery[];
}

/**
 * The follower's side of personalized fanout: decides for each follower of a batch from this node's data only
 * (the follower's interest profile), then appends the chosen notifications through the followers' mailboxes.
 */
export class FollowerFanout {
  readonly counters = { fanoutBatches: 0, fanoutDecided: 0, fanoutNotified: 0 };

  constructor(
    private readonly store: NodeStore,
    private readonly region: ShardRegion,
    private readonly opts: { nodeId: string; profile?: ProfileOptions; policy?: FanoutPolicyOptions },
  ) {}

  /** Decides and writes one batch; yields the event loop every few ms so triggered events never wait long. */
  async decide(batch: FanoutBatch): Promise<FanoutResult> {
    const region = this.region;
    if (batch.epoch !== region.epoch) throw new HeraldError('HERALD_WRONG_OWNER', `epoch ${batch.epoch} is not ${region.epoch}`);
    const { event } = batch;
    const tweet = event.tweet;
    if (!tweet) return { decided: 0, notified: 0, deliveries: [] };
    void this.store.applied.write([{ type: 'put', key: TWEET_PREFIX + tweet.id, value: pack({ id: event.id, author: event.actor, entities: tweet.entities ?? [] }) }]);
    const now = Date.now();
    const entities = tweet.entities ?? [];
    const chosen: Array<[UserId, string]> = [];
    for (const f of batch.followers) {
      if (!region.serves(region.shardOf(f))) throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not serve ${f}`);
    }
    for (let i = 0; i < batch.followers.length; i += PROFILE_READS) {
      const slice = batch.followers.slice(i, i + PROFILE_READS);
      // One batched read per slice, off the event loop; triggered events run between slices.
      const profiles = await this.profilesOf(slice);
      let slept = Date.now();
      for (let j = 0; j < slice.length; j++) {
        const d = decide(profiles[j], event.actor, entities, now, this.opts.policy);
        if (d.notify) chosen.push([slice[j], d.reason!]);
        if (Date.now() - slept >= SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slept = Date.now();
        }
      }
    }
    const tasks = chosen.map(([f, reason]) => {
      const wasActive = region.actors.has(f);
      const actor = region.activate(f);
      return actor.mailbox.post(async () => {
        const applied = actor.applyFanout(event, reason);
        await applied?.written;
        // Bulk fanout must not fill memory with actors: one activated only for this goes back to sleep.
        if (!wasActive && actor.mailbox.size <= 1) region.actors.delete(f);
        return applied?.notification ? { user: f, notification: applied.notification } : null;
      });
    });
    const deliveries = (await Promise.all(tasks)).filter((d): d is Delivery => d !== null);
    this.counters.fanoutBatches++;
    this.counters.fanoutDecided += batch.followers.length;
    this.counters.fanoutNotified += deliveries.length;
    return { decided: batch.followers.length, notified: deliveries.length, deliveries };
  }

  /** Followers' interest profiles: from the actor when active, else read from LevelDB in one batch. */
  async profilesOf(users: UserId[]): Promise<InterestProfile[]> {
    const keys = users.map((u) => userKey(this.region.shardOf(u), 'P', u));
    const stored = await this.store.db.getMany(keys);
    return users.map((u, i) => this.region.actors.get(u)?.interests ?? new InterestProfile(stored[i] ? unpack<ProfileData>(stored[i]!) : undefined, this.opts.profile));
  }

  /** Why `user` was (or was not) notified of `tweetId`: the decision with its inputs, from this node's data. */
  explain(user: UserId, tweetId: string) {
    const actor = this.region.activateOwned(user);
    const tweet = this.store.getSync<{ id: string; author: UserId; entities: string[] }>(TWEET_PREFIX + tweetId);
    if (!tweet) throw new HeraldError('HERALD_NOT_FOUND', `no fanout of tweet ${tweetId} reached ${user}'s node`);
    const decision = decide(actor.interests, tweet.author, tweet.entities, Date.now(), this.opts.policy);
    return {
      user,
      tweet: tweetId,
      author: tweet.author,
      entities: tweet.entities,
      notified: actor.hasApplied(tweet.author, tweet.id),
      decisionNow: decision,
      topFollowings: actor.interests.topFollowings,
    };
  }
}
