import { pack, unpack } from '../storage/Codec';
import { HeraldError } from '../storage/HeraldError';
import { HIGH, LOG_PREFIX, TWEET_PREFIX, kindRange, seqKey, shardOf, userKey } from '../storage/Keyspace';
import type { Logger } from '../storage/logger';
import type { NodeStore } from '../storage/NodeStore';
import { ShardRange } from '../storage/ShardRange';
import type { HeraldEvent, Notification, UserId } from './Event';
import { decide, type FanoutPolicyOptions } from './FanoutPolicy';
import { FanoutRunner, type FanoutBatch } from './FanoutRunner';
import { InterestProfile, type ProfileData, type ProfileOptions } from './InterestProfile';
import { DeliveryQueue } from './DeliveryQueue';
import { Sender, type ChannelPort, type SenderOptions } from './Sender';
import type { OutboundChannel, Settings } from './Settings';
import type { DeliveryPolicy } from './DeliveryPlanner';
import { UserActor } from './UserActor';

export interface NodeOptions {
  nodeId: string;
  shardCount: number;
  /** A user actor with an empty mailbox is passivated after this long without messages. @defaultValue 60000 */
  idleMs: number;
  /** Timeline entries kept per user (retention). @defaultValue 1000 */
  timelineMax?: number;
  /** Event ids are remembered this long for deduplication; older dedupe keys are swept. @defaultValue 86400000 */
  dedupeWindowMs?: number;
  /** Followers read per fanout page. @defaultValue 5000 */
  fanoutPageSize?: number;
  /** Top-N size, entity window and cap, decay. @defaultValue DEFAULT_PROFILE */
  profile?: ProfileOptions;
  /** Who is notified of a followed author's tweet. @defaultValue DEFAULT_POLICY */
  policy?: FanoutPolicyOptions;
  /** Likes/retweets of one tweet within this window collapse into one entry. @defaultValue 1 h */
  aggregateWindowMs?: number;
  /** Channels this node sends on and push caps (NodeHost fills the channels it could configure). */
  delivery?: DeliveryPolicy;
  /** Retention by age: timeline entries older than this are removed by a periodic job. @defaultValue 90 days */
  timelineMaxAgeMs?: number;
}

/** Fanout decisions yield the event loop at least this often (ms): triggered work never waits longer. */
const SLICE_MS = 5;
/** Followers' profiles read per batched LevelDB read. */
const PROFILE_READS = 500;

/** One event and the users on this node that it touches. */
export interface IngestItem {
  event: HeraldEvent;
  users: UserId[];
}

export interface IngestBatch {
  /** Shard-table epoch the router used; work routed with another epoch is refused (fencing). */
  epoch: number;
  items: IngestItem[];
}

export interface Delivery {
  user: UserId;
  notification: Notification;
}

export interface IngestResult {
  /** Per item: null when applied (or already applied), else the error code. */
  errors: Array<string | null>;
  deliveries: Delivery[];
}

/**
 * The shard region of one node: hosts the UserActors of the shards this node owns, writes every batch to the
 * ingest log (one synced LevelDB batch) before any actor applies it, and replays the log on start so that nothing
 * acked is lost and nothing is applied twice (the actors dedupe by event id).
 */
export class NodeActor {
  private readonly actors = new Map<UserId, UserActor>();
  private epoch = 0;
  private owned = new Set<number>();
  /** Owned shards being handed off: their work is refused until the table says who owns them. */
  private readonly frozen = new Set<number>();
  private owners: readonly string[] = [];
  readonly fanout: FanoutRunner;
  private nextSeq = 1;
  private sweeper?: NodeJS.Timeout;
  private retentionSweeper?: NodeJS.Timeout;
  private readonly deliveryQueue: DeliveryQueue;
  private readonly range: ShardRange;
  private sender?: Sender;
  private dedupeSweeper?: NodeJS.Timeout;
  readonly counters = {
    batches: 0, events: 0, notifications: 0, activations: 0, passivations: 0, replayed: 0,
    fanoutBatches: 0, fanoutDecided: 0, fanoutNotified: 0,
  };

  constructor(
    private readonly store: NodeStore,
    private readonly opts: NodeOptions,
    private readonly log: Logger,
    /** How fanout batches reach other nodes (NodeHost relays them through the gateway). */
    sendFanout: (node: string, batch: FanoutBatch) => Promise<{ decided: number; notified: number }> = (_n, b) => this.fanoutBatch(b),
    /** Hands notifications this node made on its own (its local fanout batches) to the gateway's sockets. */
    deliver: (deliveries: Delivery[]) => Promise<unknown> = async () => undefined,
  ) {
    this.deliveryQueue = new DeliveryQueue(store);
    this.range = new ShardRange(store);
    this.fanout = new FanoutRunner({
      store,
      shardCount: opts.shardCount,
      log,
      pageSize: opts.fanoutPageSize ?? 5000,
      table: () => ({ epoch: this.epoch, owners: this.owners, owned: this.owned }),
      send: async (node, batch) => {
        if (node !== opts.nodeId) return sendFanout(node, batch);
        const local = await this.fanoutBatch(batch);
        if (local.deliveries.length) await deliver(local.deliveries).catch((err) => this.log.warn({ err }, 'local fanout deliveries not handed over'));
        return local;
      },
    });
  }

  /** Replays logged-but-unapplied batches, then starts the passivation sweep. */
  async start(): Promise<void> {
    const pending = await this.store.scan<IngestItem[]>({ gt: LOG_PREFIX, lt: LOG_PREFIX + HIGH });
    for (const [key, items] of pending) {
      await this.applyItems(items, Promise.resolve());
      await this.store.applied.write([{ type: 'del', key }]);
      this.nextSeq = Math.max(this.nextSeq, Number(key.slice(LOG_PREFIX.length)) + 1);
      this.counters.replayed += items.length;
    }
    if (pending.length) this.log.info({ batches: pending.length, events: this.counters.replayed }, 'replayed ingest log');
    const every = Math.max(50, Math.min(this.opts.idleMs / 2, 10_000));
    this.sweeper = setInterval(() => this.passivateIdle(), every);
    this.sweeper.unref();
    const window = this.opts.dedupeWindowMs ?? 24 * 3600 * 1000;
    this.dedupeSweeper = setInterval(() => {
      this.sweepDedupe(Date.now() - window).catch((err) => this.log.warn({ err }, 'dedupe sweep failed'));
    }, Math.min(window / 4, 3600 * 1000));
    this.dedupeSweeper.unref();
    // Fanouts interrupted by a stop or crash resume where their last confirmed page ended.
    this.fanout.kick();
    const maxAge = this.opts.timelineMaxAgeMs ?? 90 * 24 * 3600_000;
    this.retentionSweeper = setInterval(() => {
      this.sweepTimelines(Date.now() - maxAge).catch((err) => this.log.warn({ err }, 'retention sweep failed'));
    }, Math.min(maxAge / 4, 3600_000));
    this.retentionSweeper.unref();
  }

  /**
   * Retention by age, the cleanup job: every user of every owned shard drops entries older than `cutoff`,
   * through its mailbox (so it never races a new entry). Users are visited a page at a time.
   */
  async sweepTimelines(cutoff: number): Promise<number> {
    let dropped = 0;
    for (const shard of this.owned) {
      const range = kindRange(shard, 'u');
      for (let gt = range.gt; ; ) {
        const keys = await this.store.db.keys({ gt, lt: range.lt, limit: 500 }).all();
        if (!keys.length) break;
        gt = keys[keys.length - 1];
        for (const key of keys) {
          const user = key.slice(range.gt.length);
          const wasActive = this.actors.has(user);
          const actor = this.activate(user);
          dropped += await actor.mailbox.post(() => actor.dropOlderThan(cutoff));
          if (!wasActive && actor.mailbox.size === 0) this.actors.delete(user);
        }
      }
    }
    if (dropped) this.log.info({ dropped }, 'retention: dropped old timeline entries');
    return dropped;
  }

  /** Starts the sender workers (push, SMS, email) on the channels this node has. */
  startDelivery(channels: ReadonlyMap<OutboundChannel, ChannelPort>, opts: SenderOptions): void {
    if (channels.size === 0) return;
    this.sender = new Sender(this.deliveryQueue, channels, opts, this.log);
    this.sender.start();
  }

  /** A user's settings, after applying `patch` if given (through the user's mailbox). */
  settings(user: UserId, patch?: Settings): Promise<Settings> {
    const actor = this.activateOwned(user);
    return actor.mailbox.post(() => (patch ? actor.delivery.update(patch) : actor.delivery.settings));
  }

  deadLetters(limit: number) {
    return this.deliveryQueue.deadLetters(limit);
  }

  async replayDeadLetters(ids?: string[]): Promise<number> {
    const n = await this.deliveryQueue.replay(ids, Date.now());
    this.sender?.kick();
    return n;
  }

  /** Forgets event ids applied before `olderThan` (the dedupe window) in every owned shard. */
  async sweepDedupe(olderThan: number): Promise<number> {
    let dropped = 0;
    for (const shard of this.owned) dropped += await this.range.sweepDedupe(shard, olderThan);
    if (dropped) this.log.info({ dropped }, 'swept dedupe keys past the window');
    return dropped;
  }

  /**
   * The shard table as this node must honour it: its epoch, the shards it owns at that epoch, and every
   * shard's owner (fanout groups followers by owning node).
   */
  setTable(epoch: number, shards: number[], owners: readonly string[] = []): void {
    this.epoch = epoch;
    this.owned = new Set(shards);
    this.owners = owners;
    for (const s of this.frozen) if (!this.owned.has(s)) this.frozen.delete(s);
    // Actors of shards this node lost hold state that now belongs to another node.
    for (const [id, actor] of this.actors) if (!this.owned.has(actor.shard)) this.actors.delete(id);
    this.log.info({ epoch, shards: shards.length }, 'shard table set');
  }

  /**
   * Handoff, old owner: refuse new work for `shard` (the router holds its events meanwhile) and resolve once
   * every mailbox of its users is empty, so what is exported afterwards is complete.
   */
  async freezeShard(shard: number): Promise<void> {
    if (!this.owned.has(shard)) throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not own shard ${shard}`);
    this.frozen.add(shard);
    const busy = () => [...this.actors.values()].filter((a) => a.shard === shard && a.mailbox.size > 0);
    for (let waiting = busy(); waiting.length; waiting = busy()) await Promise.all(waiting.map((a) => a.mailbox.post(() => undefined)));
    await this.store.applied.drain();
    await this.store.durable.drain();
  }

  /** Rolls a failed handoff back: the shard takes work again. */
  unfreezeShard(shard: number): void {
    this.frozen.delete(shard);
  }

  /** Handoff, old owner: the shard's keys in order after `after`, at most `limit` (a range scan over its prefix). */
  exportShard(shard: number, after: string | undefined, limit: number) {
    return this.range.read(shard, after, limit);
  }

  /** Handoff, new owner: writes a part of a shard, fsynced (the table flips to this node only after). */
  importShard(shard: number, rows: Array<[string, Uint8Array]>): Promise<void> {
    return this.range.write(shard, rows);
  }

  /** Deletes every key of a shard this node does not own (after a move, or to roll one back). */
  async dropShard(shard: number): Promise<number> {
    if (this.owned.has(shard)) throw new HeraldError('HERALD_INVALID_MESSAGE', `node ${this.opts.nodeId} still owns shard ${shard}`);
    for (const [id, actor] of this.actors) if (actor.shard === shard) this.actors.delete(id);
    return this.range.drop(shard);
  }

  /** Shards this node does not own but holds keys of (should be none once moves are done). */
  async strayShards(): Promise<number[]> {
    const stray: number[] = [];
    for (let s = 0; s < this.opts.shardCount; s++) if (!this.owned.has(s) && !(await this.range.isEmpty(s))) stray.push(s);
    return stray;
  }

  /** Approximate bytes on disk per owned shard: what `admin status` shows. */
  async shardSizes(): Promise<Record<number, number>> {
    const out: Record<number, number> = {};
    for (const s of this.owned) out[s] = await this.range.size(s);
    return out;
  }

  /**
   * Logs a batch durably, then applies each event through the mailboxes of the users it touches. Resolves once
   * every effect is written, with the notifications created (the gateway delivers them to connected users).
   */
  async ingest(batch: IngestBatch): Promise<IngestResult> {
    const errors: Array<string | null> = batch.items.map((item) => this.refusal(batch.epoch, item.users));
    const accepted = batch.items.filter((_, i) => errors[i] === null);
    if (accepted.length === 0) return { errors, deliveries: [] };

    const key = LOG_PREFIX + seqKey(this.nextSeq++);
    const durable = this.store.durable.write([{ type: 'put', key, value: pack(accepted) }]);
    this.counters.batches++;
    this.counters.events += accepted.length;
    const deliveries = await this.applyItems(accepted, durable);
    // Every effect is written: the log entry has done its job. A crash before this delete only replays (deduped).
    void this.store.applied.write([{ type: 'del', key }]);
    if (accepted.some((i) => i.event.type === 'tweet')) this.fanout.kick();
    if (deliveries.length) this.sender?.kick();
    return { errors, deliveries };
  }

  /**
   * The follower's side of fanout: decides for each follower from this node's data only (its profile), then
   * appends the chosen notifications through the followers' mailboxes. Yields the event loop every few
   * thousand decisions so triggered events are never stuck behind a celebrity's tweet.
   */
  async fanoutBatch(batch: FanoutBatch): Promise<{ decided: number; notified: number; deliveries: Delivery[] }> {
    if (batch.epoch !== this.epoch) throw new HeraldError('HERALD_WRONG_OWNER', `epoch ${batch.epoch} is not ${this.epoch}`);
    const { event } = batch;
    const tweet = event.tweet;
    if (!tweet) return { decided: 0, notified: 0, deliveries: [] };
    void this.store.applied.write([{ type: 'put', key: TWEET_PREFIX + tweet.id, value: pack({ id: event.id, author: event.actor, entities: tweet.entities ?? [] }) }]);
    const now = Date.now();
    const entities = tweet.entities ?? [];
    const chosen: Array<[UserId, string]> = [];
    for (const f of batch.followers) {
      if (!this.serves(shardOf(f, this.opts.shardCount))) throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not serve ${f}`);
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
      const wasActive = this.actors.has(f);
      const actor = this.activate(f);
      return actor.mailbox.post(async () => {
        const applied = actor.applyFanout(event, reason);
        await applied?.written;
        // Bulk fanout must not fill memory with actors: one activated only for this goes back to sleep.
        if (!wasActive && actor.mailbox.size <= 1) this.actors.delete(f);
        return applied?.notification ? { user: f, notification: applied.notification } : null;
      });
    });
    const deliveries = (await Promise.all(tasks)).filter((d): d is Delivery => d !== null);
    this.counters.fanoutBatches++;
    this.counters.fanoutDecided += batch.followers.length;
    this.counters.fanoutNotified += deliveries.length;
    if (deliveries.length) this.sender?.kick();
    return { decided: batch.followers.length, notified: deliveries.length, deliveries };
  }

  /** Followers' interest profiles: from the actor when active, else read from LevelDB in one batch. */
  private async profilesOf(users: UserId[]): Promise<InterestProfile[]> {
    const keys = users.map((u) => userKey(shardOf(u, this.opts.shardCount), 'P', u));
    const stored = await this.store.db.getMany(keys);
    return users.map((u, i) => this.actors.get(u)?.interests ?? new InterestProfile(stored[i] ? unpack<ProfileData>(stored[i]!) : undefined, this.opts.profile));
  }

  /** Why `user` was (or was not) notified of `tweetId`: the decision with its inputs, from this node's data. */
  explain(user: UserId, tweetId: string) {
    const actor = this.activateOwned(user);
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

  private refusal(epoch: number, users: UserId[]): string | null {
    if (epoch !== this.epoch) return 'HERALD_WRONG_OWNER';
    for (const u of users) if (!this.serves(shardOf(u, this.opts.shardCount))) return 'HERALD_WRONG_OWNER';
    return null;
  }

  /** Owned at this epoch and not being handed off. */
  private serves(shard: number): boolean {
    return this.owned.has(shard) && !this.frozen.has(shard);
  }

  /** Posts each (event, user) to the user's mailbox in arrival order; the work waits for `durable` first. */
  private async applyItems(items: IngestItem[], durable: Promise<void>): Promise<Delivery[]> {
    const tasks: Array<Promise<Delivery | null>> = [];
    for (const { event, users } of items) {
      for (const user of users) {
        const actor = this.activate(user);
        tasks.push(
          actor.mailbox.post(async () => {
            await durable;
            const applied = actor.apply(event);
            if (!applied) return null;
            await applied.written;
            return applied.notification ? { user, notification: applied.notification } : null;
          }),
        );
      }
    }
    const done = await Promise.all(tasks);
    const deliveries = done.filter((d): d is Delivery => d !== null);
    this.counters.notifications += deliveries.length;
    return deliveries;
  }

  /** A newest-first page of the user's timeline, with its unread count. */
  timeline(user: UserId, before: number | undefined, limit: number) {
    const actor = this.activateOwned(user);
    return actor.mailbox.post(async () => ({ ...(await actor.page(before, limit)), ...actor.state }));
  }

  /** Entries above `since` (oldest first) and the user's counters: the replay half of `subscribe`. */
  since(user: UserId, since: number, limit: number) {
    const actor = this.activateOwned(user);
    return actor.mailbox.post(async () => ({ items: await actor.since(since, limit), ...actor.state, ...actor.recovery }));
  }

  markRead(user: UserId, upTo: number) {
    const actor = this.activateOwned(user);
    return actor.mailbox.post(async () => {
      await actor.markRead(upTo);
      return actor.state;
    });
  }

  private activateOwned(user: UserId): UserActor {
    if (!this.serves(shardOf(user, this.opts.shardCount))) {
      throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not serve ${user}`);
    }
    return this.activate(user);
  }

  private activate(user: UserId): UserActor {
    let actor = this.actors.get(user);
    if (!actor) {
      actor = new UserActor(user, shardOf(user, this.opts.shardCount), this.store, {
        timelineMax: this.opts.timelineMax,
        profile: this.opts.profile,
        aggregateWindowMs: this.opts.aggregateWindowMs,
        delivery: this.opts.delivery,
      });
      this.actors.set(user, actor);
      this.counters.activations++;
    }
    actor.lastUsed = Date.now();
    return actor;
  }

  /** Drops actors that are idle and have nothing queued; they reactivate from LevelDB on the next message. */
  passivateIdle(now = Date.now()): number {
    let n = 0;
    for (const [id, actor] of this.actors) {
      if (actor.mailbox.size === 0 && now - actor.lastUsed >= this.opts.idleMs) {
        this.actors.delete(id);
        n++;
      }
    }
    this.counters.passivations += n;
    return n;
  }

  stats() {
    return {
      nodeId: this.opts.nodeId,
      epoch: this.epoch,
      shards: this.owned.size,
      activeUsers: this.actors.size,
      ...this.counters,
      fanout: this.fanout.progress,
      senders: this.sender?.counters ?? {},
    };
  }

  async stop(): Promise<void> {
    await this.fanout.stop();
    this.sender?.stop();
    clearInterval(this.sweeper);
    clearInterval(this.retentionSweeper);
    clearInterval(this.dedupeSweeper);
    await this.store.close();
  }
}

