import { pack } from '../storage/Codec';
import type { Op } from '../storage/GroupCommit';
import { seqKey, userKey } from '../storage/Keyspace';
import type { NodeStore } from '../storage/NodeStore';
import { Timeline, type TimelineMeta } from '../storage/Timeline';
import { recipientsOf, targetOf, type HeraldEvent, type Notification, type UserId } from './Event';
import { DEFAULT_PROFILE, InterestProfile, WEIGHTS, addAffinity, type ProfileData, type ProfileOptions } from './InterestProfile';
import { aggregate } from './Aggregation';
import { DeliveryPlanner, type DeliveryPolicy } from './DeliveryPlanner';
import { Mailbox } from './Mailbox';
import { describe } from './NotificationText';

/** How many applied event keys an active actor remembers, so a retry never waits on a disk read. */
const RECENT_IDS = 1024;

export interface UserOptions {
  /** Retention: entries kept per user; older ones are dropped as new ones come. @defaultValue 1000 */
  timelineMax: number;
  profile: ProfileOptions;
  /** Likes/retweets of one tweet within this window collapse into one entry (0 = never). @defaultValue 1 h */
  aggregateWindowMs: number;
  /** Push, SMS and email: which channels this node can send on, and push fatigue caps. Absent = in-app only. */
  delivery?: DeliveryPolicy;
}

/** What the dedupe key of an applied event holds. */
interface DedupeRecord {
  at: number;
  offset: number;
}

export interface Applied {
  notification?: Notification;
  /** Resolves when the effects are in LevelDB. */
  written: Promise<void>;
}

/**
 * A virtual per-user entity, hosted by the NodeActor that owns the user's shard. Activated on demand from
 * LevelDB, passivated when idle; all of its work goes through its FIFO mailbox, so its state changes one message
 * at a time in arrival order. It reads only its own user's keys: no remote lookups.
 */
export class UserActor {
  readonly mailbox = new Mailbox();
  lastUsed = Date.now();
  private readonly timeline: Timeline<Notification>;
  private meta: TimelineMeta;
  private profile?: InterestProfile;
  /** Push, SMS and email decisions (settings, fatigue slots). */
  readonly delivery: DeliveryPlanner;
  /** Dedupe keys applied while active → the offset each made, so a retry never waits on a disk read. */
  private readonly recentIds = new Map<string, number>();
  /** The last write queued for this user: reads wait for it (read-your-writes). */
  private lastWrite: Promise<void> = Promise.resolve();

  private readonly timelineMax: number;
  private readonly profileOpts: ProfileOptions;
  private readonly aggregateWindowMs: number;

  constructor(
    readonly id: UserId,
    readonly shard: number,
    private readonly store: NodeStore,
    opts: Partial<UserOptions> = {},
  ) {
    this.timelineMax = opts.timelineMax ?? 1000;
    this.profileOpts = opts.profile ?? DEFAULT_PROFILE;
    this.aggregateWindowMs = opts.aggregateWindowMs ?? 3600_000;
    this.delivery = new DeliveryPlanner(store, shard, id, opts.delivery);
    this.timeline = new Timeline(store, shard, id);
    const meta = this.timeline.readMeta();
    // A timeline never written takes the store's incarnation as epoch, and keeps it from its first write on.
    this.meta = { ...meta, first: meta.first ?? 1, epoch: meta.epoch ?? store.incarnation };
  }

  /**
   * Applies this user's part of an event: edges, tweets and engagements when the user is the actor, a timeline
   * entry when the user is a recipient. The dedupe key is written in the same atomic batch, so an event replayed
   * from the ingest log or retried by a producer takes effect exactly once. Returns null for a duplicate.
   */
  apply(e: HeraldEvent): Applied | null {
    this.lastUsed = Date.now();
    const dedupe = userKey(this.shard, 'd', this.id, e.actor, e.id);
    const seen = this.seen(dedupe);
    if (seen !== undefined) return this.again(seen);

    const ts = e.ts ?? Date.now();
    const ops: Op[] = [];
    const before = this.meta;
    if (e.actor === this.id) ops.push(...this.actorOps(e, ts));
    let notification: Notification | undefined;
    if (recipientsOf(e).includes(this.id)) {
      if (e.type === 'follow') ops.push(this.edgeOp('put', 'F', e.actor, ts));
      const aggregate = this.aggregate(e, ts);
      notification = aggregate?.notification ?? this.notificationFor(e, ts);
      if (aggregate) ops.push(...aggregate.ops);
      this.meta = { ...this.meta, last: notification.offset };
      ops.push(this.timeline.entryOp(notification), ...this.retentionOps(), this.timeline.metaOp(this.meta), ...this.delivery.ops(notification, 1));
    } else if (e.type === 'unfollow' && targetOf(e) === this.id) {
      ops.push(this.edgeOp('del', 'F', e.actor));
    }
    ops.push(this.dedupeOp(dedupe, notification?.offset ?? 0));

    return this.commit(ops, dedupe, before, notification);
  }

  /**
   * Queues the ops; a failed write leaves no trace: the retry must apply, at the offset this one would have
   * had. Safe because the mailbox runs the next message only after this write settled.
   */
  private commit(ops: Op[], dedupe: string, before: TimelineMeta, notification?: Notification, writer = this.store.applied): Applied {
    this.remember(dedupe, notification?.offset ?? 0);
    const written = writer.write(ops);
    written.catch(() => {
      this.meta = before;
      this.recentIds.delete(dedupe);
      // Profile and push slots may have changed in memory before the write: reload them from the store.
      this.profile = undefined;
      this.delivery.forget();
    });
    this.lastWrite = written.catch(() => undefined);
    return { notification, written };
  }

  /**
   * The actor's own records: followings, tweets, engagements, and the interest profile they feed (affinity to
   * the engaged user, recent entities, Top-N followings), all updated incrementally in the same batch.
   */
  private actorOps(e: HeraldEvent, ts: number): Op[] {
    const target = targetOf(e);
    const now = Date.now();
    switch (e.type) {
      case 'follow': {
        if (!target) return [];
        const affinity = this.addAffinity(target, WEIGHTS.follow, now);
        this.interests.follow(target, affinity.value, now);
        return [this.edgeOp('put', 'f', target, ts), affinity.op, this.profileOp()];
      }
      case 'unfollow':
        if (!target) return [];
        this.interests.unfollow(target);
        return [this.edgeOp('del', 'f', target), this.profileOp()];
      case 'tweet':
        if (!e.tweet) return [];
        // The fanout job is written with the tweet, atomically: a tweet stored is a fanout that will run.
        return [
          { type: 'put', key: userKey(this.shard, 'w', this.id, e.tweet.id), value: pack({ ...e.tweet, ts }) },
          { type: 'put', key: userKey(this.shard, 'j', this.id, e.id), value: pack({ event: e, cursor: '', done: 0 }) },
        ];
      default: {
        const weight = WEIGHTS[e.type];
        const ops: Op[] = [{
          type: 'put',
          key: userKey(this.shard, 'e', this.id, String(ts).padStart(15, '0'), e.id),
          value: pack({ type: e.type, target, tweetId: e.tweet?.id, entities: e.tweet?.entities ?? [], ts }),
        }];
        // A mention event is by the mentioner about someone else's tweet only if it names a target.
        const other = target && target !== this.id ? target : undefined;
        const affinity = other ? this.addAffinity(other, weight, now) : undefined;
        const followed = other !== undefined && this.store.db.getSync(userKey(this.shard, 'f', this.id, other)) !== undefined;
        this.interests.engage(other, followed, affinity?.value ?? 0, e.tweet?.entities ?? [], weight, now);
        if (affinity) ops.push(affinity.op);
        ops.push(this.profileOp());
        return ops;
      }
    }
  }

  private addAffinity(other: UserId, weight: number, now: number): { value: number; op: Op } {
    const key = userKey(this.shard, 'a', this.id, other);
    const next = addAffinity(this.store.getSync<[number, number]>(key), weight, now, this.profileOpts.halfLifeMs);
    return { value: next[0], op: { type: 'put', key, value: pack(next) } };
  }

  /** Top-N followings and recent entities, loaded on first use. */
  get interests(): InterestProfile {
    this.profile ??= new InterestProfile(this.store.getSync<ProfileData>(userKey(this.shard, 'P', this.id)), this.profileOpts);
    return this.profile;
  }

  private profileOp(): Op {
    return { type: 'put', key: userKey(this.shard, 'P', this.id), value: pack(this.interests.toData()) };
  }

  /**
   * A follower's notification of a tweet chosen by personalized fanout, with the reason. Deduplicated with the
   * same key as the tweet event itself, so a resumed fanout, or a mention of the same tweet, notifies once.
   */
  applyFanout(e: HeraldEvent, reason: string): Applied | null {
    this.lastUsed = Date.now();
    const dedupe = userKey(this.shard, 'd', this.id, e.actor, e.id);
    const seen = this.seen(dedupe);
    if (seen !== undefined) return this.again(seen);
    const before = this.meta;
    const notification: Notification = {
      offset: this.meta.last + 1,
      type: 'tweet',
      actors: [e.actor],
      tweetId: e.tweet?.id,
      reason,
      eventIds: [e.id],
      ts: e.ts ?? Date.now(),
      text: e.tweet?.text ? `${e.actor} tweeted: ${e.tweet.text}` : `${e.actor} tweeted`,
    };
    this.meta = { ...this.meta, last: notification.offset };
    const ops: Op[] = [
      this.dedupeOp(dedupe, notification.offset),
      this.timeline.entryOp(notification),
      ...this.retentionOps(),
      this.timeline.metaOp(this.meta),
      ...this.delivery.ops(notification, 2),
    ];
    // Fanout has no ingest log on this node to rebuild it from: its entries are fsynced before the author moves on.
    return this.commit(ops, dedupe, before, notification, this.store.durable);
  }

  /** Whether this user already has (or had, within the dedupe window) the effect of event `actor/id`. */
  hasApplied(actor: UserId, id: string): boolean {
    return this.seen(userKey(this.shard, 'd', this.id, actor, id)) !== undefined;
  }

  /**
   * The dedupe record of an event: written in the effect's batch, with when it was applied (the dedupe window
   * counts from then, not from the producer's `ts`) and the offset of the entry it made (0 = none).
   */
  private dedupeOp(key: string, offset: number): Op {
    return { type: 'put', key, value: pack({ at: Date.now(), offset }) };
  }

  /** The offset an applied event made (0 = none), or undefined if it was not applied. */
  private seen(key: string): number | undefined {
    const recent = this.recentIds.get(key);
    if (recent !== undefined) return recent;
    const stored = this.store.getSync<DedupeRecord | number>(key);
    if (stored === undefined) return undefined;
    return typeof stored === 'number' ? 0 : stored.offset;
  }

  /**
   * A repeat of an applied event (a producer's retry, a log replay) changes nothing, but answers with the entry
   * it made: if the first answer was lost (a deadline, a crash before the reply), the retry's ack still delivers
   * it to live subscribers, who drop offsets they already have.
   */
  private again(offset: number): Applied | null {
    if (offset === 0) return null;
    const entry = this.store.getSync<Notification>(userKey(this.shard, 't', this.id, seqKey(offset)));
    return entry ? { notification: entry, written: Promise.resolve() } : null;
  }

  private edgeOp(type: 'put' | 'del', kind: 'f' | 'F', other: UserId, ts = 0): Op {
    const key = userKey(this.shard, kind, this.id, other);
    return type === 'put' ? { type, key, value: pack(ts) } : { type, key };
  }

  /** Likes and retweets of one tweet within the window collapse into one entry (actors/Aggregation.ts). */
  private aggregate(e: HeraldEvent, ts: number): { notification: Notification; ops: Op[] } | undefined {
    if ((e.type !== 'like' && e.type !== 'retweet') || !e.tweet || this.aggregateWindowMs <= 0) return undefined;
    const where = { shard: this.shard, user: this.id, windowMs: this.aggregateWindowMs };
    return aggregate(this.store, this.timeline, where, this.meta, { ...e, type: e.type }, ts, () => ({
      ...this.notificationFor(e, ts),
      count: 1,
    }));
  }

  private notificationFor(e: HeraldEvent, ts: number): Notification {
    const type = e.type === 'tweet' ? 'mention' : e.type;
    const n: Notification = { offset: this.meta.last + 1, type, actors: [e.actor], eventIds: [e.id], ts, text: describe(type, e) };
    if (e.tweet) n.tweetId = e.tweet.id;
    return n;
  }

  /** Retention by age: drops entries older than `cutoff` (ms) from the oldest up; returns how many. */
  async dropOlderThan(cutoff: number): Promise<number> {
    await this.lastWrite;
    const first = this.meta.first ?? 1;
    const old = (await this.timeline.since(first - 1, 1000)).filter((n) => n.ts < cutoff);
    // Entries are in offset order; stop at the first young one so `first` stays contiguous.
    let next = first;
    const ops: Op[] = [];
    for (const n of old) {
      if (n.offset !== next) break;
      ops.push(this.timeline.dropOp(n.offset));
      next++;
    }
    if (!ops.length) return 0;
    this.meta = { ...this.meta, first: next, read: Math.max(this.meta.read, next - 1) };
    ops.push(this.timeline.metaOp(this.meta));
    this.lastWrite = this.store.applied.write(ops);
    await this.lastWrite;
    return ops.length - 1;
  }

  /** Drops the oldest entries past `timelineMax`; `first` moves up so a resume from before it is refused. */
  private retentionOps(): Op[] {
    const ops: Op[] = [];
    let first = this.meta.first ?? 1;
    while (this.meta.last - first + 1 > this.timelineMax) ops.push(this.timeline.dropOp(first++));
    if (ops.length) this.meta = { ...this.meta, first, read: Math.max(this.meta.read, first - 1) };
    return ops;
  }

  private remember(key: string, offset: number): void {
    if (this.recentIds.size >= RECENT_IDS) this.recentIds.clear();
    this.recentIds.set(key, offset);
  }

  /**
   * Newest first below `before`, without entries a later aggregate superseded; `next` is the cursor for the
   * following page, absent on the last one.
   */
  async page(before: number | undefined, limit: number): Promise<{ items: Notification[]; next?: number }> {
    await this.lastWrite;
    const { items, scanned } = await this.timeline.page(before, limit, (n) => n.replacedBy !== undefined);
    return items.length === limit && scanned !== undefined && scanned > (this.meta.first ?? 1) ? { items, next: scanned } : { items };
  }

  /** Entries above `since`, oldest first: what a reconnecting client missed. */
  async since(since: number, limit: number): Promise<Notification[]> {
    await this.lastWrite;
    return this.timeline.since(since, limit);
  }

  /** Moves the read marker forward (never back, never past the newest entry). */
  async markRead(upTo: number): Promise<TimelineMeta> {
    const read = Math.min(Math.max(this.meta.read, upTo), this.meta.last);
    if (read !== this.meta.read) {
      this.meta = { ...this.meta, read };
      this.lastWrite = this.store.applied.write([this.timeline.metaOp(this.meta)]);
    }
    await this.lastWrite;
    return this.meta;
  }

  get state(): { offset: number; unread: number; read: number } {
    return { offset: this.meta.last, unread: this.meta.last - this.meta.read, read: this.meta.read };
  }

  /** What a resuming client is checked against: the timeline's epoch and its oldest kept offset. */
  get recovery(): { epoch: string; first: number } {
    return { epoch: this.meta.epoch ?? '', first: this.meta.first ?? 1 };
  }
}
