import { pack, unpack } from '../../core/Codec';
import { HeraldError } from '../../core/HeraldError';
import { userKey } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import type { HeraldEvent, UserId } from '../../core/Event';
import { candidatesIn, INDEXED_RANK, indexComplete, rebuildIndex } from './CandidateIndex';
import type { FanoutPolicyOptions, ProfileOptions } from '../../core/config';
import { decide, reasonOf, ruleOf } from './FanoutPolicy';
import type { FanoutBatch, FanoutExplanation, FanoutTally, ProfileData } from '../../core/Fanout';
import { InterestProfile } from '../user/InterestProfile';
import type { Delivery } from '../../core/nodeProtocol';
import type { ShardRegion } from '../node/ShardRegion';
import { StoredProfileReader } from '../user/StoredProfile';
import type { UserActor } from '../user/UserActor';

/** Fanout decisions yield the event loop at least this often (ms): triggered work never waits longer. */
const SLICE_MS = 5;
/** Followers' profiles read per batched LevelDB read. */
const PROFILE_READS = 500;
/** Chosen followers whose writes are started before letting them run (each costs tens of µs: packing, committing). */
const WRITES_PER_TURN = 16;
/** Followers of one shard, in key order, read by a range scan rather than point reads from this many on. */
const SCAN_RUN = 64;
/** Chosen followers without an active actor whose timeline meta and dedupe key are read in one batch. */
const FRESH_READS = 64;
/** A tweet with more entities than this is decided without the candidate index (a scan per entity per run). */
const INDEXED_ENTITIES = 8;

/**
 * The end of the run starting at `a` (exclusive, at most `end`): followers of one shard in key order, so their
 * profile and index keys are in order too (a batch comes shard by shard in key order, FanoutRunner).
 */
function runEnd(followers: UserId[], shards: number[], a: number, end: number): number {
  let b = a + 1;
  while (b < end && shards[b] === shards[a] && followers[b] > followers[b - 1]) b++;
  return b;
}

/** A batch decided here: its tally, and the notifications made (for the gateway's live sockets). */
export interface FanoutResult extends FanoutTally {
  deliveries: Delivery[];
}

/**
 * The follower's side of personalized fanout: decides for each follower of a batch from this node's data only
 * (the follower's interest profile), then appends the chosen notifications through the followers' mailboxes.
 */
export class FollowerFanout {
  /** `fanoutRuledOut`: followers decided by the candidate index alone, without reading their profiles. */
  readonly counters = { fanoutBatches: 0, fanoutDecided: 0, fanoutNotified: 0, fanoutRuledOut: 0 };
  /** The candidate index is complete (`prepare`): fanouts may rule followers out by it. */
  private indexed = false;
  private preparing?: Promise<void>;

  constructor(
    private readonly store: NodeStore,
    private readonly region: ShardRegion,
    private readonly opts: { nodeId: string; shardCount: number; profile: ProfileOptions; policy: FanoutPolicyOptions },
  ) {}

  /**
   * Makes sure every stored profile has its candidate index entries. A DB from before the index gets them built
   * in the background (fanouts read every profile meanwhile): resolves when done. Profiles written meanwhile are
   * safe: their own writes add the entries they need, and an entry the build adds from an older read is only an
   * extra candidate.
   */
  prepare(log: { info: (o: object, msg: string) => void; warn: (o: object, msg: string) => void }): Promise<void> {
    this.preparing ??= (async () => {
      if (!indexComplete(this.store)) {
        const started = Date.now();
        try {
          const profiles = await rebuildIndex(this.store, this.opts.shardCount);
          // A new, empty DB has nothing to build: only an upgrade says so (operators wait for this line).
          if (profiles > 0) log.info({ profiles, ms: Date.now() - started }, 'built the fanout candidate index from the stored profiles');
        } catch (err) {
          // A store closing under it (stop): the next start builds it again.
          log.warn({ err }, 'fanout candidate index not built');
          return;
        }
      }
      this.indexed = true;
    })();
    return this.preparing;
  }

  /**
   * Whether the candidate index can rule followers out for a tweet with these entities: not before it is built,
   * nor for a policy that notifies deeper ranks than it holds, nor for too many entities to scan for.
   */
  private usesIndex(entities: readonly string[]): boolean {
    return this.indexed && this.opts.policy.alwaysRank <= INDEXED_RANK && entities.length <= INDEXED_ENTITIES;
  }

  /** Decides and writes one batch; yields the event loop every few ms so triggered events never wait long. */
  async decide(batch: FanoutBatch): Promise<FanoutResult> {
    const region = this.region;
    checkBatch(batch);
    const { event, followers, shards } = batch;
    const tweet = event.tweet;
    if (!tweet) return { decided: 0, notified: 0, deliveries: [] };
    // Fenced per shard as ingest is (a table flip elsewhere does not refuse the pages in flight). The author's node
    // computed each follower's shard to group the page by node; it is not hashed again here.
    for (let i = 0; i < followers.length; i++) {
      if (region.refusalOf(batch.epoch, shards[i]))
        throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not serve ${followers[i]} for epoch ${batch.epoch}`);
    }
    // The explain record, under each shard of the batch (`<shard>!x!<tweet>`), so it moves with the followers.
    const record = pack({ id: event.id, author: event.actor, entities: tweet.entities ?? [] });
    void this.store.applied.write([...new Set(shards)].map((s) => ({ type: 'put' as const, key: userKey(s, 'x', tweet.id), value: record })));
    const now = Date.now();
    const entities = tweet.entities ?? [];
    const decider = new BulkDecider(event.actor, entities, now, this.opts.profile, this.opts.policy);
    const writes: Array<Promise<Delivery | null>> = [];
    let unsettled = 0;
    let slept = Date.now();
    // Profiles are read a slice ahead (libuv threads) while this thread decides the slice before.
    const candidates = this.usesIndex(decider.terms) ? await this.candidatesOf(followers, shards, event.actor, decider.terms) : undefined;
    const read = (from: number) => handled(this.readProfiles(followers, shards, from, Math.min(followers.length, from + PROFILE_READS), candidates));
    let next = read(0);
    const fresh: Array<[UserId, string, number]> = [];
    for (let i = 0; i < followers.length; i += PROFILE_READS) {
      const stored = await next;
      if (i + PROFILE_READS < followers.length) next = read(i + PROFILE_READS);
      const end = Math.min(followers.length, i + PROFILE_READS);
      for (let j = i; j < end; j++) {
        const user = followers[j];
        // An active actor's profile may be ahead of the store (a write in flight): decide from memory then.
        const active = region.actors.get(user);
        const reason = active ? decider.fromProfile(active.interests) : decider.fromBytes(stored[j - i]);
        if (reason && active && !active.failed) {
          writes.push(handled(this.notify(event, active, reason)));
          unsettled++;
        } else if (reason) {
          fresh.push([user, reason, shards[j]]);
          if (fresh.length >= FRESH_READS) unsettled += this.notifyFresh(event, fresh.splice(0), writes);
        }
        // The chosen followers' writes run as microtasks at the next await: a few at a time, so that neither
        // decisions nor writes hold the event loop for more than a slice.
        if (unsettled >= WRITES_PER_TURN || Date.now() - slept >= SLICE_MS) {
          if (Date.now() - slept >= SLICE_MS) {
            await new Promise((r) => setImmediate(r));
            slept = Date.now();
          } else await null;
          unsettled = 0;
        }
      }
    }
    if (fresh.length) this.notifyFresh(event, fresh, writes);
    const deliveries = (await Promise.all(writes)).filter((d): d is Delivery => d !== null);
    this.counters.fanoutBatches++;
    this.counters.fanoutDecided += followers.length;
    this.counters.fanoutNotified += deliveries.length;
    return { decided: followers.length, notified: deliveries.length, deliveries };
  }

  /** Appends an active chosen follower's notification through its mailbox (UserActor.applyFanout dedupes and numbers it). */
  private notify(event: HeraldEvent, actor: UserActor, reason: string): Promise<Delivery | null> {
    return actor.mailbox.post(async () => {
      const applied = actor.applyFanout(event, reason);
      await applied?.written;
      return applied?.notification ? { user: actor.id, notification: applied.notification } : null;
    });
  }

  /**
   * The candidate index's answer for every run of 64 or more followers of one shard in the batch (`runEnd`): one
   * range scan per term (the author, the tweet's entities as profiles hold them) for the whole run, bounded by its
   * first and last follower. A shard whose followers come in more than one run is left out (read in full).
   */
  private async candidatesOf(followers: UserId[], shards: number[], author: UserId, entities: readonly string[]): Promise<Map<number, Set<UserId>>> {
    const out = new Map<number, Set<UserId>>();
    const seen = new Set<number>();
    const split = new Set<number>();
    const scans: Array<Promise<unknown>> = [];
    for (let a = 0; a < followers.length;) {
      const b = runEnd(followers, shards, a, followers.length);
      const shard = shards[a];
      if (seen.has(shard)) split.add(shard);
      seen.add(shard);
      if (b - a >= SCAN_RUN) scans.push(candidatesIn(this.store, shard, author, entities, followers[a], followers[b - 1]).then((c) => out.set(shard, c)));
      a = b;
    }
    await Promise.all(scans);
    for (const shard of split) out.delete(shard);
    return out;
  }

  /**
   * The profiles of followers `from..to`; null for a follower the candidate index rules out (`candidates` has its
   * shard and not it). The rest of a long run of one shard (a celebrity's followers: nearly every user of the
   * shard) is read by a scan of the shard's profile range; others by batched point reads.
   */
  private async readProfiles(
    followers: UserId[],
    shards: number[],
    from: number,
    to: number,
    candidates?: Map<number, Set<UserId>>,
  ): Promise<Array<Uint8Array | undefined | null>> {
    const out = new Array<Uint8Array | undefined | null>(to - from);
    const key = (k: number) => userKey(shards[from + k], 'P', followers[from + k]);
    const scattered: number[] = [];
    const reads: Array<Promise<void>> = [];
    for (let a = 0; a < to - from;) {
      const b = runEnd(followers, shards, from + a, to) - from;
      const indexed = candidates?.get(shards[from + a]);
      if (indexed) {
        for (let k = a; k < b; k++) {
          if (indexed.has(followers[from + k])) scattered.push(k);
          else {
            out[k] = null;
            this.counters.fanoutRuledOut++;
          }
        }
      } else if (b - a >= SCAN_RUN) {
        const at = a;
        const run: string[] = [];
        for (let k = a; k < b; k++) run.push(key(k));
        reads.push(this.store.getOrdered(run).then((vs) => vs.forEach((v, k) => (out[at + k] = v))));
      } else for (let k = a; k < b; k++) scattered.push(k);
      a = b;
    }
    if (scattered.length) {
      reads.push(this.store.db.getMany(scattered.map(key)).then((vs) => vs.forEach((v, i) => (out[scattered[i]] = v))));
    }
    await Promise.all(reads);
    return out;
  }

  /**
   * The same for chosen followers whose actors are not active, the usual case: their actors are woken without
   * reading anything, and the timeline meta and dedupe key of all of them are read in one batched LevelDB read
   * (off this thread) instead of two synchronous reads each. Each actor's first task waits for that read, so
   * nothing of theirs runs before it; the read is issued after they exist, so it sees every write they will build on.
   */
  private notifyFresh(event: HeraldEvent, all: Array<[UserId, string, number]>, writes: Array<Promise<Delivery | null>>): number {
    const region = this.region;
    // Woken since it was decided (a triggered event): its writes in flight would not be in the batched read.
    const chosen: typeof all = [];
    for (const c of all) {
      const active = region.actors.get(c[0]);
      if (active && !active.failed) writes.push(handled(this.notify(event, active, c[1])));
      else chosen.push(c);
    }
    const actors = chosen.map(([user, , shard]) => region.activate(user, shard));
    const keys: string[] = [];
    for (const actor of actors) keys.push(...actor.fanoutKeys(event));
    const stored = handled(this.store.db.getMany(keys));
    for (let i = 0; i < actors.length; i++) {
      const actor = actors[i];
      const [user, reason] = chosen[i];
      const write = actor.mailbox.post(async () => {
        const values = await stored;
        actor.preloadMeta(values[2 * i]);
        const applied = actor.applyFanout(event, reason, { bytes: values[2 * i + 1] });
        await applied?.written;
        // Bulk fanout must not fill memory with actors: one woken only for this goes back to sleep.
        if (actor.mailbox.size <= 1 && !actor.writing && region.actors.get(user) === actor) region.actors.delete(user);
        return applied?.notification ? { user, notification: applied.notification } : null;
      });
      writes.push(handled(write));
    }
    return all.length;
  }

  /** Followers' interest profiles: from the actor when active, else read from LevelDB in one batch. */
  async profilesOf(users: UserId[]): Promise<InterestProfile[]> {
    const keys = users.map((u) => userKey(this.region.shardOf(u), 'P', u));
    const stored = await this.store.db.getMany(keys);
    return users.map(
      (u, i) => this.region.actors.get(u)?.interests ?? new InterestProfile(stored[i] ? unpack<ProfileData>(stored[i]!) : undefined, this.opts.profile),
    );
  }

  /** Why `user` was (or was not) notified of `tweetId`: the decision with its inputs, from this node's data. */
  explain(user: UserId, tweetId: string): FanoutExplanation {
    const actor = this.region.activateOwned(user);
    const tweet = this.store.getSync<{ id: string; author: UserId; entities: string[] }>(userKey(actor.shard, 'x', tweetId));
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

/**
 * One tweet's decisions over many followers: from a stored profile's bytes (StoredProfileReader, nothing
 * decoded) or, for an active actor, from its profile in memory. Same rule and reasons as `decide`.
 */
class BulkDecider {
  private readonly reader: StoredProfileReader;
  /** The tweet's entities as profiles hold them: lower-cased, without repeats. */
  get terms(): readonly string[] {
    return this.reader.entities;
  }
  /** Reason strings by matched-entity mask: made once per tweet, not per follower. */
  private readonly reasons = new Map<number, string>();

  constructor(
    private readonly author: UserId,
    private readonly entities: readonly string[],
    private readonly now: number,
    private readonly profile: ProfileOptions,
    private readonly policy: FanoutPolicyOptions,
  ) {
    this.reader = new StoredProfileReader(author, entities, profile);
  }

  /** The reason to notify, or undefined. `bytes` undefined: no profile stored; null: not a candidate (CandidateIndex). */
  fromBytes(bytes: Uint8Array | undefined | null): string | undefined {
    const reader = this.reader;
    if (bytes === null) return undefined;
    if (bytes === undefined) return this.fromProfile(new InterestProfile(undefined, this.profile));
    if (!reader.usable || !reader.read(bytes, this.now)) return this.fromProfile(new InterestProfile(unpack<ProfileData>(bytes), this.profile));
    const rule = ruleOf(reader.rank, reader.matched !== 0, this.policy);
    if (rule === null) return undefined;
    const key = rule === 'rank' ? -1 : reader.matched;
    let reason = this.reasons.get(key);
    if (reason === undefined) {
      reason = reasonOf(
        rule,
        reader.entities.filter((_, i) => reader.matched & (1 << i)),
        this.policy,
      );
      this.reasons.set(key, reason);
    }
    return reason;
  }

  fromProfile(profile: InterestProfile): string | undefined {
    return decide(profile, this.author, this.entities, this.now, this.policy).reason;
  }
}

/** Marks a promise awaited later as handled: its rejection surfaces where it is awaited, not as an unhandled one. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** A fanout batch comes from another process: its shape is checked before anything is read or written. */
function checkBatch(batch: FanoutBatch): void {
  const ok =
    batch !== null &&
    typeof batch === 'object' &&
    Number.isInteger(batch.epoch) &&
    typeof batch.event?.id === 'string' &&
    typeof batch.event.actor === 'string' &&
    Array.isArray(batch.followers) &&
    Array.isArray(batch.shards) &&
    batch.shards.length === batch.followers.length &&
    batch.followers.every((f) => typeof f === 'string' && f.length > 0) &&
    batch.shards.every((s) => Number.isInteger(s) && s >= 0);
  if (!ok) throw new HeraldError('HERALD_INVALID_MESSAGE', 'malformed fanout batch');
}
