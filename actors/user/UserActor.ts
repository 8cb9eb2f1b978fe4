import { pack, unpack } from '../../core/Codec';
import type { Op } from '../../storage/GroupCommit';
import { SEP, followerKey, seqKey, shardOf, shardPrefix, userKey, userRange } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import { Timeline, type TimelineMeta } from '../../storage/Timeline';
import { SUPERSEDED, targetOf, type HeraldEvent, type Notification, type UserId } from '../../core/Event';
import type { ProfileOptions } from '../../core/config';
import type { ProfileData } from '../../core/Fanout';
import { InterestProfile, WEIGHTS, addAffinity } from './InterestProfile';
import { aggregate, type AggregateSource } from './Aggregation';
import { DeliveryPlanner, type DeliveryPolicy } from '../delivery/DeliveryPlanner';
import { KeyFilter } from './KeyFilter';
import { ABSENT, KnownKeys, READ } from './KnownKeys';
import { Mailbox } from './Mailbox';
import { indexChanges, termsOf, type IndexTerms } from '../fanout/CandidateIndex';
import { describe } from './NotificationText';

/**
 * Kinds of keys whose complete set an active actor keeps, once it has had a few events (KNOWN_AFTER): dedupe and
 * aggregates as fingerprints (actors/user/KeyFilter.ts), affinities and followings with their values (KnownKeys).
 */
type KnownKind = 'd' | 'a' | 'f' | 'g';
const KNOWN_KINDS = 'dafg';
const FILTERED_KINDS = 'dg';
/**
 * Kinds this actor reads back through `read` (dedupe, affinity, following, aggregate, timeline entry): only their
 * writes in flight are kept in `unlanded`. Engagements are never read back; the meta and profile live in memory.
 */
const READ_KINDS = 'dafgt';
/**
 * Events an actor applies before it loads its key sets. A load (a LevelDB iterator made and seeked on the event
 * loop, and a scan) was measured at hundreds of µs on a node of a 1 M-user graph, tens of point reads: only a user
 * with many events earns it back.
 */
export const KNOWN_AFTER = 16;
/**
 * ...or sooner, from its second event on, when its events have come faster than one per this many ms since its
 * activation: a user that busy earns a load back within a second (the triggered benchmark's likers, ~7 events/s,
 * spent ~10 µs more CPU per event reading LevelDB for their first 16 events), while a user seen every few seconds
 * (the fanout benchmark's likers) still waits for KNOWN_AFTER.
 */
export const KNOWN_HOT_MS = 1000;
/** Entries of landed writes an actor with writes always in flight keeps at most before it drops them. */
const UNLANDED_PRUNE = 64;

export interface UserOptions {
  /** Retention: entries kept per user; older ones are dropped as new ones come (`timelineMax`). */
  timelineMax: number;
  profile: ProfileOptions;
  /** Likes/retweets of one tweet within this window collapse into one entry (0 = never; `aggregateWindowMs`). */
  aggregateWindowMs: number;
  /** Push, SMS and email: which channels this node can send on, and push fatigue caps. Absent = in-app only. */
  delivery?: DeliveryPolicy;
  /** The cluster's shard count (a follower's shard is part of its follower key). */
  shardCount: number;
}

/** `recipientsOf(e).includes(user)` (core/Event.ts) without building the list: this runs for every event. */
function isRecipient(e: HeraldEvent, user: UserId): boolean {
  if (e.actor === user) return false;
  switch (e.type) {
    case 'unfollow':
      return false;
    case 'mention':
    case 'tweet':
      return e.tweet?.mentions?.includes(user) ?? false;
    default:
      return targetOf(e) === user;
  }
}

/** What the dedupe key of an applied event holds. */
interface DedupeRecord {
  at: number;
  offset: number;
}

/** The offset an applied event made (0 = none; older records hold a bare number), undefined if not applied. */
function offsetOf(stored: DedupeRecord | number | undefined): number | undefined {
  if (stored === undefined) return undefined;
  return typeof stored === 'number' ? 0 : stored.offset;
}

export interface Applied {
  notification?: Notification;
  /** The notification's msgpack bytes as its timeline entry stores them (the gateway frames them as they are). */
  packed?: Uint8Array;
  /** Resolves when the effects are in LevelDB (fsynced unless the node runs with --no-sync). */
  written: Promise<void>;
}

/** One key an apply changes: its decoded value (undefined deletes it), packed when the change is committed. */
interface Change {
  key: string;
  value: unknown;
  /** `value` packed already (a new timeline entry: its bytes also go to the gateway). */
  packed?: Uint8Array;
}

/** A value this actor wrote that may not have landed in LevelDB yet, and the number of the write carrying it. */
interface Unlanded {
  value: unknown;
  write: number;
}

/**
 * A virtual per-user entity, hosted by the NodeActor that owns the user's shard. Activated on demand from
 * LevelDB, passivated when idle; all of its work goes through its FIFO mailbox, so its state changes one message
 * at a time in arrival order. It reads only its own user's keys: no remote lookups.
 *
 * Writes are pipelined: `apply` changes the state in memory and queues its ops on the store's one ordered writer
 * (`store.durable`, FIFO) without waiting for them to land, so the next event of the same user applies at once.
 * Reads of its own keys see the values still in flight (`unlanded`). A failed write fails the store (GroupCommit
 * refuses every later write), so nothing written after a lost write can land on top of it; the actor is marked
 * `failed` and the region replaces it with one reloaded from LevelDB.
 */
export class UserActor {
  readonly mailbox = new Mailbox();
  lastUsed = Date.now();
  /** A write of this actor failed: its memory is ahead of the store, it must not be used again. */
  failed = false;
  private readonly timeline: Timeline<Notification>;
  /** The timeline's counters, read from LevelDB when first needed (or handed over by `preloadMeta`). */
  private metaValue?: TimelineMeta;
  private profile?: InterestProfile;
  /** What the stored profile has in the candidate index (set with `profile`). */
  private indexed: IndexTerms = termsOf(undefined);
  /** Push, SMS and email decisions (settings, fatigue slots). */
  readonly delivery: DeliveryPlanner;
  /**
   * Keys written and not landed yet → their value: what a read of them must see (pipelined writes). May also hold
   * entries of writes that have landed (write <= landedWrite), which mean nothing: they go in bulk. Made by the
   * first write after all have landed, dropped when all have: an idle actor holds no Map (one per landing, kept
   * until the actor's next event, survived the scavenges).
   */
  private unlanded?: Map<string, Unlanded>;
  /** The last of this actor's writes that has landed. */
  private landedWrite = 0;
  /** `unlanded` is pruned of landed writes' entries past this size. */
  private pruneAt = UNLANDED_PRUNE;
  /** Which dedupe, affinity, following and aggregate keys exist (each set made and loaded when first needed): a miss costs no read. */
  private readonly known: Partial<Record<KnownKind, KnownKeys | KeyFilter>> = {};
  /** The character position of the kind in this user's keys. */
  private readonly kindAt: number;
  /** Events applied since activation, and when the first of them was. */
  private applies = 0;
  private firstApplyAt = 0;
  /** Writes queued by this actor, and how many of them have not landed yet. */
  private writes = 0;
  private inFlight = 0;
  /** The last write queued for this user: reads wait for it (read-your-writes); it never rejects. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** The same write as the store answers it: a repeat of an event in flight answers with its outcome. */
  private lastWritten: Promise<void> = Promise.resolve();

  private readonly timelineMax: number;
  private readonly profileOpts: ProfileOptions;
  private readonly aggregateWindowMs: number;
  private readonly shardCount: number;
  /** `<shard>!<kind>!<user>!` is the start of every key of this user: built once per kind. */
  private readonly prefix: (kind: 'd' | 't' | 'a' | 'f' | 'e' | 'g') => string;

  constructor(
    readonly id: UserId,
    readonly shard: number,
    private readonly store: NodeStore,
    opts: UserOptions,
  ) {
    this.timelineMax = opts.timelineMax;
    this.profileOpts = opts.profile;
    this.aggregateWindowMs = opts.aggregateWindowMs;
    this.shardCount = opts.shardCount;
    this.delivery = new DeliveryPlanner(store, shard, id, opts.delivery);
    this.timeline = new Timeline(store, shard, id);
    const prefixes = { d: '', t: '', a: '', f: '', e: '', g: '' };
    for (const k of Object.keys(prefixes) as Array<keyof typeof prefixes>) prefixes[k] = userKey(shard, k, id) + SEP;
    this.prefix = (kind) => prefixes[kind];
    this.kindAt = shardPrefix(shard).length;
  }

  private get meta(): TimelineMeta {
    return (this.metaValue ??= this.metaFrom(this.timeline.readMeta()));
  }

  /**
   * A timeline never written takes the store's incarnation as epoch, and keeps it from its first write on. A meta
   * written before `kept`/`unread` existed had no holes: every offset in first..last counts.
   */
  private metaFrom(meta: TimelineMeta): TimelineMeta {
    const first = meta.first ?? 1;
    // Every field named, in one order: a spread over metas of several stored shapes took V8's slow path (a fanout's
    // followers each build one).
    return {
      last: meta.last,
      read: meta.read,
      first,
      epoch: meta.epoch ?? this.store.incarnation,
      kept: meta.kept ?? meta.last - first + 1,
      unread: meta.unread ?? meta.last - Math.max(meta.read, first - 1),
    };
  }

  /** The meta key's bytes as read by a batched read issued after this actor was created (bulk fanout). */
  preloadMeta(stored: Uint8Array | undefined): void {
    this.metaValue ??= this.metaFrom(stored ? unpack<TimelineMeta>(stored) : { last: 0, read: 0 });
  }

  /** The keys a bulk fanout reads for this actor in one batch before `preloadMeta` and `applyFanout`. */
  fanoutKeys(e: HeraldEvent): [meta: string, dedupe: string] {
    return [this.timeline.metaKey, this.prefix('d') + e.actor + SEP + e.id];
  }

  /** Whether this actor has writes that have not landed: it must stay active until they have. */
  get writing(): boolean {
    return this.inFlight > 0;
  }

  /**
   * Applies this user's part of an event: edges, tweets and engagements when the user is the actor, a timeline
   * entry when the user is a recipient. The dedupe key is written in the same atomic batch, so an event replayed
   * or retried by a producer takes effect exactly once. Returns null for a duplicate.
   */
  apply(e: HeraldEvent): Applied | null {
    this.lastUsed = Date.now();
    const dedupe = this.prefix('d') + e.actor + SEP + e.id;
    if (this.applies++ === 0) this.firstApplyAt = this.lastUsed;
    const seen = this.seen(dedupe);
    if (seen !== undefined) return this.again(seen);

    const ts = e.ts ?? this.lastUsed;
    const changes: Change[] = [];
    if (e.actor === this.id) this.actorChanges(e, ts, changes);
    let notification: Notification | undefined;
    let packed: Uint8Array | undefined;
    let extra: Op[] | undefined;
    if (isRecipient(e, this.id)) {
      if (e.type === 'follow') changes.push({ key: this.followerKey(e.actor), value: ts });
      const aggregate = this.aggregate(e, ts, changes);
      notification = aggregate ?? this.notificationFor(e, ts);
      // The superseded entry's delete is among the changes: it no longer counts, read or not.
      if (notification.replaces !== undefined) this.counted(notification.replaces, -1);
      this.meta.last = notification.offset;
      this.counted(notification.offset, 1);
      packed = pack(notification);
      changes.push({ key: this.entryKey(notification.offset), value: notification, packed });
      this.retentionChanges(changes);
      changes.push({ key: this.timeline.metaKey, value: this.meta });
      extra = this.delivery.ops(notification, 1);
    } else if (e.type === 'unfollow' && targetOf(e) === this.id) {
      changes.push({ key: this.followerKey(e.actor), value: undefined });
    }
    const offset = notification?.offset ?? 0;
    changes.push({ key: dedupe, value: { at: this.lastUsed, offset } satisfies DedupeRecord });
    return { notification, packed, written: this.commit(changes, extra) };
  }

  /**
   * Queues the changes on the store's ordered writer, without waiting: the mailbox moves on at once. Values stay
   * readable from `unlanded` until their write lands. A failed write fails the store; this actor is done.
   */
  private commit(changes: Change[], extra?: Op[]): Promise<void> {
    const write = ++this.writes;
    const ops: Op[] = new Array(changes.length);
    for (let i = 0; i < changes.length; i++) {
      const { key, value, packed } = changes[i];
      ops[i] = value === undefined ? { type: 'del', key } : { type: 'put', key, value: packed ?? pack(value) };
      const kind = key[this.kindAt];
      if (READ_KINDS.includes(kind)) (this.unlanded ??= new Map()).set(key, { value, write });
      this.known[kind as KnownKind]?.changed(key, value);
    }
    if (extra) for (const op of extra) ops.push(op);
    this.inFlight++;
    const written = this.store.durable.write(ops);
    this.lastWritten = written;
    // Writes land in the order they were queued (GroupCommit is FIFO): an entry of this write or an earlier one
    // is stale from now on. Entries are dropped all at once, not key by key (a Map shrinks and regrows on that),
    // with the Map, not by `clear()`: V8 clears a Map by giving it a new table (in the old generation once the old
    // table is there) and leaves the entries in the old one, and every scavenge until the next full GC took that
    // dead table's entries as live, copying and promoting each value written since (in process, small batches:
    // 2.75 → 1.7 MB surviving each scavenge, pauses 10.5 → 6–7 ms).
    const landed = () => {
      this.landedWrite = write;
      if (--this.inFlight === 0) this.unlanded = undefined;
      else if (this.unlanded && this.unlanded.size > this.pruneAt) this.pruneLanded(this.unlanded);
    };
    this.lastWrite = written.then(landed, () => {
      landed();
      this.failed = true;
    });
    return written;
  }

  /** Drops the entries of writes that have landed (an actor whose writes are never all landed at once). */
  private pruneLanded(unlanded: Map<string, Unlanded>): void {
    for (const [key, { write }] of unlanded) if (write <= this.landedWrite) unlanded.delete(key);
    // Many writes in flight keep many entries: scan again only once as many more have come.
    this.pruneAt = Math.max(UNLANDED_PRUNE, 2 * unlanded.size);
  }

  /** A value this actor wrote whose write has not landed yet (a stale entry is in LevelDB already). */
  private unlandedValue(key: string): Unlanded | undefined {
    const pending = this.unlanded?.get(key);
    return pending !== undefined && pending.write > this.landedWrite ? pending : undefined;
  }

  /** After KNOWN_AFTER events, or from the second on when they come faster than one per KNOWN_HOT_MS. */
  private keepsKeySets(): boolean {
    const n = this.applies;
    return n > KNOWN_AFTER || (n > 1 && this.lastUsed - this.firstApplyAt < (n - 1) * KNOWN_HOT_MS);
  }

  /** A key of this user as the latest apply left it: a value still in flight, else what LevelDB holds. */
  private read<T>(key: string): T | undefined {
    // An actor that keeps getting events is likely to get more: worth loading the set of this kind.
    const set = this.keepsKeySets() ? this.knownSet(key[this.kindAt]) : this.knownOf(key);
    set?.load(this.store);
    const pending = this.unlandedValue(key);
    if (pending) return pending.value as T | undefined;
    if (!set) return this.store.getSync<T>(key);
    const known = set.lookup(key);
    if (known === ABSENT) return undefined;
    if (known !== READ) return known as T;
    const value = this.store.getSync<T>(key);
    set.read(key, value);
    return value;
  }

  /** The key set of the key's kind, if the actor keeps one for it (made yet). */
  private knownOf(key: string): KnownKeys | KeyFilter | undefined {
    return this.known[key[this.kindAt] as KnownKind];
  }

  /**
   * Makes the set of a kind on first need (most actors, woken for one event, never need one). Writes of that kind
   * still in flight go into it as changes made before its scan, as if it had been tracking them from the start.
   */
  private knownSet(kind: string): KnownKeys | KeyFilter | undefined {
    if (kind.length !== 1 || !KNOWN_KINDS.includes(kind)) return undefined;
    let set = this.known[kind as KnownKind];
    if (set) return set;
    const range = userRange(this.shard, kind as KnownKind, this.id);
    set = this.known[kind as KnownKind] = FILTERED_KINDS.includes(kind) ? new KeyFilter(range) : new KnownKeys(range);
    if (this.unlanded) for (const [key, { value, write }] of this.unlanded) if (write > this.landedWrite && key[this.kindAt] === kind) set.changed(key, value);
    return set;
  }

  private followerKey(follower: UserId): string {
    return followerKey(this.shard, this.id, shardOf(follower, this.shardCount), follower);
  }

  private entryKey(offset: number): string {
    return this.prefix('t') + seqKey(offset);
  }

  /**
   * The actor's own records: followings, tweets, engagements, and the interest profile they feed (affinity to
   * the engaged user, recent entities, Top-N followings), all updated incrementally in the same batch.
   */
  private actorChanges(e: HeraldEvent, ts: number, changes: Change[]): void {
    const target = targetOf(e);
    const now = this.lastUsed;
    switch (e.type) {
      case 'follow': {
        if (!target) return;
        const affinity = this.addAffinity(target, WEIGHTS.follow, now, changes);
        this.interests.follow(target, affinity, now);
        changes.push({ key: this.prefix('f') + target, value: ts });
        this.profileChanges(changes);
        return;
      }
      case 'unfollow':
        if (!target) return;
        this.interests.unfollow(target);
        changes.push({ key: this.prefix('f') + target, value: undefined });
        this.profileChanges(changes);
        return;
      case 'tweet':
        if (!e.tweet) return;
        // The fanout job is written with the tweet, atomically: a tweet stored is a fanout that will run.
        changes.push(
          { key: userKey(this.shard, 'w', this.id, e.tweet.id), value: { ...e.tweet, ts } },
          { key: userKey(this.shard, 'j', this.id, e.id), value: { event: e, cursor: '', done: 0 } },
        );
        return;
      default: {
        const weight = WEIGHTS[e.type];
        const entities = e.tweet?.entities ?? [];
        changes.push({
          key: this.prefix('e') + String(ts).padStart(15, '0') + SEP + e.id,
          value: { type: e.type, target, tweetId: e.tweet?.id, entities, ts },
        });
        // A mention event is by the mentioner about someone else's tweet only if it names a target.
        const other = target && target !== this.id ? target : undefined;
        const affinity = other ? this.addAffinity(other, weight, now, changes) : 0;
        const followed = other !== undefined && this.read(this.prefix('f') + other) !== undefined;
        if (this.interests.engage(other, followed, affinity, entities, weight, now)) this.profileChanges(changes);
      }
    }
  }

  /** Adds `weight` to the decayed affinity to `other`; returns the new value. */
  private addAffinity(other: UserId, weight: number, now: number, changes: Change[]): number {
    const key = this.prefix('a') + other;
    const next = addAffinity(this.read<[number, number]>(key), weight, now, this.profileOpts.halfLifeMs);
    changes.push({ key, value: next });
    return next[0];
  }

  /** Top-N followings and recent entities, loaded on first use. */
  get interests(): InterestProfile {
    if (!this.profile) {
      const stored = this.store.getSync<ProfileData>(userKey(this.shard, 'P', this.id));
      this.profile = new InterestProfile(stored, this.profileOpts);
      this.indexed = termsOf(stored);
    }
    return this.profile;
  }

  /** The profile's write, and the candidate index entries it changes (same batch: the index never lags it). */
  private profileChanges(changes: Change[]): void {
    const data = this.interests.toData();
    const terms = termsOf(data);
    indexChanges(this.shard, this.id, this.indexed, terms, changes);
    this.indexed = terms;
    changes.push({ key: userKey(this.shard, 'P', this.id), value: data });
  }

  /**
   * A follower's notification of a tweet chosen by personalized fanout, with the reason. Deduplicated with the
   * same key as the tweet event itself, so a resumed fanout, or a mention of the same tweet, notifies once.
   */
  applyFanout(e: HeraldEvent, reason: string, storedDedupe?: { bytes: Uint8Array | undefined }): Applied | null {
    this.lastUsed = Date.now();
    const dedupe = this.prefix('d') + e.actor + SEP + e.id;
    // A dedupe key read in a batch since this actor was created is still current: only the actor writes it, and
    // this is its first task.
    const seen = storedDedupe ? offsetOf(storedDedupe.bytes === undefined ? undefined : unpack<DedupeRecord | number>(storedDedupe.bytes)) : this.seen(dedupe);
    if (seen !== undefined) return this.again(seen);
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
    this.meta.last = notification.offset;
    this.counted(notification.offset, 1);
    const changes: Change[] = [
      { key: dedupe, value: { at: this.lastUsed, offset: notification.offset } satisfies DedupeRecord },
      { key: this.entryKey(notification.offset), value: notification },
    ];
    this.retentionChanges(changes);
    changes.push({ key: this.timeline.metaKey, value: this.meta });
    // Fanout has no ingest log to rebuild it from: its entries are written with the store's ordered, synced writer.
    return { notification, written: this.commit(changes, this.delivery.ops(notification, 2)) };
  }

  /** Whether this user already has (or had, within the dedupe window) the effect of event `actor/id`. */
  hasApplied(actor: UserId, id: string): boolean {
    return this.seen(this.prefix('d') + actor + SEP + id) !== undefined;
  }

  /** The offset an applied event made (0 = none), or undefined if it was not applied. */
  private seen(key: string): number | undefined {
    return offsetOf(this.read<DedupeRecord | number>(key));
  }

  /**
   * A repeat of an applied event (a producer's retry, a log replay) changes nothing, but answers with the entry
   * it made: if the first answer was lost (a deadline, a crash before the reply), the retry's ack still delivers
   * it to live subscribers, who drop offsets they already have. It waits for the entry's write to land.
   */
  private again(offset: number): Applied | null {
    if (offset === 0) return null;
    const entry = this.read<Notification>(this.entryKey(offset));
    return entry ? { notification: entry, packed: pack(entry), written: this.lastWritten } : null;
  }

  /**
   * Likes and retweets of one tweet within the window collapse into one entry (actors/user/Aggregation.ts); the first
   * one's entry counts 1. Answers undefined for an event that does not aggregate.
   */
  private aggregate(e: HeraldEvent, ts: number, changes: Change[]): Notification | undefined {
    if ((e.type !== 'like' && e.type !== 'retweet') || !e.tweet || this.aggregateWindowMs <= 0) return undefined;
    const key = this.prefix('g') + e.type + SEP + e.tweet.id;
    const like = e as HeraldEvent & { type: 'like' | 'retweet' };
    return aggregate(this.own, key, this.aggregateWindowMs, this.meta, like, ts, changes) ?? this.notificationFor(e, ts, 1);
  }

  /** This actor's keys as `aggregate` reads them (made once: an apply makes no closures for it). */
  private readonly own: AggregateSource = { read: (key) => this.read(key), entryKey: (offset) => this.entryKey(offset) };

  private notificationFor(e: HeraldEvent, ts: number, count?: number): Notification {
    const type = e.type === 'tweet' ? 'mention' : e.type;
    const n: Notification = { offset: this.meta.last + 1, type, actors: [e.actor], eventIds: [e.id], ts, text: describe(type, e) };
    if (e.tweet) n.tweetId = e.tweet.id;
    if (count !== undefined) n.count = count;
    return n;
  }

  /** Retention by age: drops entries older than `cutoff` (ms) from the oldest up; returns how many. */
  async dropOlderThan(cutoff: number): Promise<number> {
    await this.lastWrite;
    const first = this.meta.first ?? 1;
    // Stored entries in offset order (holes between them are superseded offsets): stop at the first young one so
    // everything below `first` is gone and everything from it on is kept.
    const stored = await this.timeline.since(first - 1, 1000);
    let next = first;
    const changes: Change[] = [];
    for (const n of stored) {
      if (n.ts >= cutoff) break;
      changes.push({ key: this.entryKey(n.offset), value: undefined });
      this.counted(n.offset, -1);
      next = n.offset + 1;
    }
    if (!changes.length) return 0;
    this.meta.first = next;
    this.meta.read = Math.max(this.meta.read, next - 1);
    changes.push({ key: this.timeline.metaKey, value: this.meta });
    await this.commit(changes);
    return changes.length - 1;
  }

  /** Counts an entry at `offset` in (1) or out (-1) of the visible entries, and of the unread ones if above `read`. */
  private counted(offset: number, delta: 1 | -1): void {
    const meta = this.meta;
    meta.kept = (meta.kept ?? 0) + delta;
    if (offset > meta.read) meta.unread = (meta.unread ?? 0) + delta;
  }

  /**
   * Drops the oldest visible entries past `timelineMax`; `first` moves up (over superseded offsets too) so a resume
   * from before it is refused. An offset is looked up only while first..last has holes: else it is an entry.
   */
  private retentionChanges(changes: Change[]): void {
    const meta = this.meta;
    const start = meta.first ?? 1;
    let first = start;
    while ((meta.kept ?? 0) > this.timelineMax) {
      const holes = meta.last - first + 1 - (meta.kept ?? 0);
      if (holes === 0 || this.stored(first)) {
        changes.push({ key: this.entryKey(first), value: undefined });
        this.counted(first, -1);
      }
      first++;
    }
    if (first !== start) {
      meta.first = first;
      meta.read = Math.max(meta.read, first - 1);
    }
  }

  /** Whether the entry at `offset` exists as the latest apply left it (a write in flight, else LevelDB). */
  private stored(offset: number): boolean {
    const pending = this.unlandedValue(this.entryKey(offset));
    return pending ? pending.value !== undefined : this.timeline.has(offset);
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

  /**
   * Every offset above `since`, oldest first: what a reconnecting client missed. An offset whose entry a later
   * aggregate superseded (and removed) is answered as such: `{type: 'superseded', actors: [], eventIds: []}` with
   * the ts of the entry after it, so the replay has no gap and the client's offsets still rise by exactly 1.
   */
  async since(since: number, limit: number): Promise<Notification[]> {
    await this.lastWrite;
    return this.timeline.since(since, limit, this.meta.first ?? 1, superseded);
  }

  /**
   * Moves the read marker forward (never back, never past the newest entry). The unread count drops by the entries
   * it passes: all of them when it reaches the newest, else those stored (superseded offsets are holes).
   */
  async markRead(upTo: number): Promise<TimelineMeta> {
    await this.lastWrite;
    const meta = this.meta;
    const read = Math.min(Math.max(meta.read, upTo), meta.last);
    if (read !== meta.read) {
      const first = meta.first ?? 1;
      const holes = meta.last - first + 1 - (meta.kept ?? 0);
      const from = Math.max(meta.read, first - 1);
      const passed = read === meta.last ? (meta.unread ?? 0) : holes === 0 ? read - from : await this.timeline.count(from, read);
      meta.unread = Math.max(0, (meta.unread ?? 0) - passed);
      meta.read = read;
      void this.commit([{ key: this.timeline.metaKey, value: meta }]);
    }
    await this.lastWrite;
    return { ...this.meta };
  }

  get state(): { offset: number; unread: number; read: number } {
    return { offset: this.meta.last, unread: this.meta.unread ?? 0, read: this.meta.read };
  }

  /** What a resuming client is checked against: the timeline's epoch and its oldest kept offset. */
  get recovery(): { epoch: string; first: number } {
    return { epoch: this.meta.epoch ?? '', first: this.meta.first ?? 1 };
  }
}

/** A replay's stand-in for an offset whose entry was superseded by a later aggregate (storage/Timeline.ts). */
function superseded(offset: number, next: Notification): Notification {
  return { offset, type: SUPERSEDED, actors: [], eventIds: [], ts: next.ts };
}
