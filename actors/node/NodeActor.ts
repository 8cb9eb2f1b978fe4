import { pack } from '../../core/Codec';
import { HeraldError } from '../../core/HeraldError';
import { HIGH, LOG_PREFIX, kindRange, seqKey } from '../../storage/Keyspace';
import type { Logger } from '../../core/logger';
import type { NodeStore } from '../../storage/NodeStore';
import { ShardRange } from '../../storage/ShardRange';
import type { NodeOptions, SenderOptions } from '../../core/config';
import type { UserId } from '../../core/Event';
import type { Delivery, IngestBatch, IngestItem, IngestResult, Peers } from '../../core/nodeProtocol';
import type { FanoutBatch } from '../../core/Fanout';
import type { NodeActorStats } from '../../core/NodeStats';
import type { OutboundChannel, Settings, SettingsPatch } from '../../core/OutboundDelivery';
import type { PresenceUpdate } from '../../core/PresenceUpdate';
import type { Applied } from '../user/UserActor';
import { FanoutRunner, PAGES_IN_FLIGHT } from '../fanout/FanoutRunner';
import { FollowerFanout, type FanoutResult } from '../fanout/FollowerFanout';
import { DeliveryQueue } from '../delivery/DeliveryQueue';
import { Sender, type ChannelPort } from '../delivery/Sender';
import type { DeliveryPolicy } from '../delivery/DeliveryPlanner';
import { Presence } from './Presence';
import { migrateNodeKeys } from './NodeKeyMigration';
import { ShardHandoff } from './ShardHandoff';
import { ShardRegion } from './ShardRegion';

/** What a NodeActor is given: the node's options, and which outbound channels it has (NodeHost fills them in). */
export interface NodeActorOptions extends NodeOptions {
  /** Channels this node sends on and push caps; absent, in-app only. */
  delivery?: DeliveryPolicy;
}

/**
 * One node's work: hosts the UserActors of the shards it owns (ShardRegion) and applies every ingest batch through
 * them; it answers once the effects are fsynced, so nothing acked is lost, and the actors dedupe by event id, so
 * nothing is applied twice.
 */
export class NodeActor {
  readonly region: ShardRegion;
  readonly handoff: ShardHandoff;
  readonly followers: FollowerFanout;
  readonly fanout: FanoutRunner;
  /** Which users have a live subscriber: only their notifications go to the gateway. */
  readonly presence: Presence;
  private sweeper?: NodeJS.Timeout;
  private retentionSweeper?: NodeJS.Timeout;
  private readonly deliveryQueue: DeliveryQueue;
  private readonly range: ShardRange;
  private sender?: Sender;
  private dedupeSweeper?: NodeJS.Timeout;
  readonly counters = { batches: 0, events: 0, notifications: 0, replayed: 0 };
  private nextSeq = 1;

  constructor(
    private readonly store: NodeStore,
    private readonly opts: NodeActorOptions,
    private readonly log: Logger,
    /** The other nodes (fanout batches go to their owners this way). Alone, every node is this one. */
    readonly peers: Peers = {
      call: (_node, op, args) =>
        (op === 'fanoutBatch'
          ? this.fanoutBatch(args as FanoutBatch)
          : Promise.reject(new HeraldError('HERALD_UNAVAILABLE', `no peers for ${op}`))) as Promise<never>,
    },
    /** Hands notifications this node made on its own (its local fanout batches) to the gateway's sockets. */
    deliver: (deliveries: Delivery[]) => Promise<unknown> = async () => undefined,
  ) {
    this.deliveryQueue = new DeliveryQueue(store, (shard) => this.region.serves(shard));
    this.range = new ShardRange(store);
    this.region = new ShardRegion(store, opts);
    this.handoff = new ShardHandoff(store, this.region, opts.nodeId, opts.shardCount, this.peers);
    this.followers = new FollowerFanout(store, this.region, opts);
    this.presence = new Presence(
      () => this.region.owned,
      (user) => this.region.shardOf(user),
    );
    this.fanout = new FanoutRunner({
      store,
      shardCount: opts.shardCount,
      log,
      pageSize: opts.fanoutPageSize,
      pagesInFlight: PAGES_IN_FLIGHT,
      table: () => ({ epoch: this.region.epoch, owners: this.region.owners, owned: this.region.owned }),
      send: async (node, batch) => {
        if (node !== opts.nodeId) return this.peers.call(node, 'fanoutBatch', batch);
        const local = await this.fanoutBatch(batch);
        if (local.deliveries.length) await deliver(local.deliveries).catch((err) => this.log.warn({ err }, 'local fanout deliveries not handed over'));
        return local;
      },
    });
  }

  /**
   * Replays the ingest log (batches accepted whose effects may not all have landed before a crash; the dedupe
   * keys make a replay apply each event once), then starts the sweeps.
   */
  async start(): Promise<void> {
    // Instant on a DB that has it; built in the background for one from before the index.
    void this.followers.prepare(this.log);
    // Queued sends, dead letters and explain records of an older version move under their shards, once.
    const migrated = await migrateNodeKeys(this.store, this.opts.shardCount);
    if (migrated) this.log.info({ records: migrated }, 'moved node-level sends, dead letters and explain records under their shards');
    // The sender may have started first (NodeHost): it reads the queues again, with the moved sends.
    if (migrated) this.sender?.kick();
    const pending = await this.store.scan<IngestItem[]>({ gt: LOG_PREFIX, lt: LOG_PREFIX + HIGH });
    for (const [key, items] of pending) {
      await this.applyItems(items);
      await this.store.durable.write([{ type: 'del', key }]);
      this.nextSeq = Math.max(this.nextSeq, Number(key.slice(LOG_PREFIX.length)) + 1);
      this.counters.replayed += items.length;
    }
    if (pending.length) this.log.info({ batches: pending.length, events: this.counters.replayed }, 'replayed ingest log');
    const every = Math.max(50, Math.min(this.opts.idleMs / 2, 10_000));
    this.sweeper = setInterval(() => this.passivateIdle(), every);
    this.sweeper.unref();
    const window = this.opts.dedupeWindowMs;
    this.dedupeSweeper = setInterval(
      () => {
        this.sweepDedupe(Date.now() - window).catch((err) => this.log.warn({ err }, 'dedupe sweep failed'));
      },
      Math.min(window / 4, 3600 * 1000),
    );
    this.dedupeSweeper.unref();
    // Fanouts interrupted by a stop or crash resume where their last confirmed page ended.
    this.fanout.kick();
    const maxAge = this.opts.timelineMaxAgeMs;
    this.retentionSweeper = setInterval(
      () => {
        this.sweepTimelines(Date.now() - maxAge).catch((err) => this.log.warn({ err }, 'retention sweep failed'));
      },
      Math.min(maxAge / 4, 3600_000),
    );
    this.retentionSweeper.unref();
  }

  /**
   * Retention by age, the cleanup job: every user of every owned shard drops entries older than `cutoff`,
   * through its mailbox (so it never races a new entry). Users are visited a page at a time.
   */
  async sweepTimelines(cutoff: number): Promise<number> {
    let dropped = 0;
    for (const shard of this.region.owned) {
      const range = kindRange(shard, 'u');
      for (let gt = range.gt; ;) {
        const keys = await this.store.db.keys({ gt, lt: range.lt, limit: 500 }).all();
        if (!keys.length) break;
        gt = keys[keys.length - 1];
        for (const key of keys) {
          const user = key.slice(range.gt.length);
          const wasActive = this.region.actors.has(user);
          const actor = this.region.activate(user);
          dropped += await actor.mailbox.post(() => actor.dropOlderThan(cutoff));
          if (!wasActive && actor.mailbox.size === 0) this.region.actors.delete(user);
        }
      }
    }
    if (dropped) this.log.info({ dropped }, 'retention: dropped old timeline entries');
    return dropped;
  }

  /** Starts the sender workers (push, SMS, email) on the channels this node has. */
  startDelivery(channels: ReadonlyMap<OutboundChannel, ChannelPort>, opts: SenderOptions): void {
    if (channels.size === 0) return;
    // Only the served shards' queues are sent from: a shard frozen for a move, or gone, is left to its new owner.
    this.sender = new Sender(
      this.deliveryQueue,
      channels,
      opts,
      this.log,
      () => [...this.region.owned].filter((s) => this.region.serves(s)),
      (job, reason) => this.pruneDevice(job.user, job.to, reason),
    );
    this.sender.start();
  }

  /** Removes a dead push token from a user's settings, in the user's mailbox so it never races a settings update. */
  private async pruneDevice(user: UserId, token: string, reason: string): Promise<boolean> {
    const actor = this.region.activateOwned(user);
    return actor.mailbox.post(() => actor.delivery.prune(token, reason));
  }

  /** A user's settings, after applying `patch` (a merge patch) if given, through the user's mailbox. */
  settings(user: UserId, patch?: SettingsPatch): Promise<Settings> {
    const actor = this.region.activateOwned(user);
    return actor.mailbox.post(() => (patch ? actor.delivery.update(patch) : actor.delivery.settings));
  }

  /** The dead letters of the shards this node owns. */
  deadLetters(limit: number) {
    return this.deliveryQueue.deadLetters(this.region.owned, limit);
  }

  async replayDeadLetters(ids?: string[]): Promise<number> {
    const n = await this.deliveryQueue.replay(
      [...this.region.owned].filter((s) => this.region.serves(s)),
      ids,
      Date.now(),
    );
    this.sender?.kick();
    return n;
  }

  /** Forgets event ids applied before `olderThan` (the dedupe window) in every owned shard. */
  async sweepDedupe(olderThan: number): Promise<number> {
    let dropped = 0;
    for (const shard of this.region.owned) dropped += await this.range.sweepDedupe(shard, olderThan);
    if (dropped) this.log.info({ dropped }, 'swept dedupe keys past the window');
    return dropped;
  }

  /** The shard table as this node must honour it (see ShardRegion.setTable). */
  setTable(epoch: number, shards: number[], owners: readonly string[] = []): void {
    const had = this.region.owned;
    this.region.setTable(epoch, shards, owners);
    for (const s of had) if (!this.region.owned.has(s)) this.presence.forget(s);
    this.log.info({ epoch, shards: shards.length }, 'shard table set');
  }

  /**
   * Logs the batch, applies each event through the mailboxes of the users it touches, in arrival order, and
   * resolves once every effect is durably written (fsynced LevelDB batches, shared with concurrent work by
   * GroupCommit), with the notifications created (the gateway delivers them to connected users). The log entry
   * is queued first on the node's one ordered writer, so no effect reaches disk without it; each effect is
   * written atomically with its event's dedupe key, so a replay or a producer's retry applies it once.
   */
  async ingest(batch: IngestBatch): Promise<IngestResult> {
    const region = this.region;
    const errors: Array<string | null> = new Array(batch.items.length);
    const accepted: IngestItem[] = [];
    /** Where each accepted item is in the batch, when some were refused. */
    let acceptedAt: number[] | undefined;
    for (let i = 0; i < batch.items.length; i++) {
      const item = batch.items[i];
      errors[i] = region.refusal(batch.epoch, item.users);
      if (errors[i] === null) {
        accepted.push(item);
        acceptedAt?.push(i);
      } else acceptedAt ??= Array.from({ length: accepted.length }, (_, j) => j);
    }
    if (accepted.length === 0) return { errors, deliveries: [] };
    this.counters.batches++;
    this.counters.events += accepted.length;
    const logKey = LOG_PREFIX + seqKey(this.nextSeq++);
    // Not awaited: the effects queued behind it land in the same or a later batch, and a failed write fails them too.
    const entry = batch.packed && accepted.length === batch.items.length ? batch.packed : pack(accepted);
    this.store.durable.write([{ type: 'put', key: logKey, value: entry }]).catch(() => undefined);
    const deliveries = await this.applyItems(accepted);
    if (acceptedAt) for (const d of deliveries) d.item = acceptedAt[d.item!];
    // Every effect is written: the entry has done its job. Its delete rides on a batch someone else makes (no
    // fsync of its own: at a few calls per ms that was a second fsync per ingest); a crash before only replays.
    this.store.durable.later([{ type: 'del', key: logKey }]);
    // A tweet's fanout job is written under its author's shard, on the author's owner.
    const tweeted = accepted.filter((i) => i.event.type === 'tweet' && i.users.includes(i.event.actor));
    if (tweeted.length) this.fanout.kick(tweeted.map((i) => this.region.shardOf(i.event.actor)));
    if (deliveries.length) this.sender?.kick(new Set(deliveries.map((d) => this.region.shardOf(d.user))));
    // Checked after every write landed: see Presence (a subscribe racing this either replays it or finds the mark).
    return { errors, deliveries: this.presence.live(deliveries) };
  }

  /** A fanout batch from an author's node: decided here (FollowerFanout); the sender picks up what it queued. */
  async fanoutBatch(batch: FanoutBatch): Promise<FanoutResult> {
    const result = await this.followers.decide(batch);
    if (result.deliveries.length) this.sender?.kick(new Set(result.deliveries.map((d) => this.region.shardOf(d.user))));
    // Only the notifications of users with a live subscriber go on to the gateway (`notified` counts them all).
    return { ...result, deliveries: this.presence.live(result.deliveries) };
  }

  /** What the gateway reports of its users' live subscriptions (see Presence). */
  updatePresence(msg: PresenceUpdate) {
    return this.presence.update(msg, this.opts.shardCount);
  }

  /**
   * Applies each (event, user) in the user's mailbox order: at once when the mailbox is idle (the usual case),
   * else queued behind what it holds. Nothing waits for a write inside the mailbox; the writes land in order
   * (GroupCommit is FIFO) and this resolves when all of them have.
   */
  private async applyItems(items: IngestItem[]): Promise<Delivery[]> {
    const results: Array<Applied | null | Promise<Applied | null>> = [];
    const users: UserId[] = [];
    const from: number[] = [];
    let queued = false;
    for (let j = 0; j < items.length; j++) {
      const { event, users: touched } = items[j];
      for (const user of touched) {
        const actor = this.region.activate(user);
        users.push(user);
        from.push(j);
        if (actor.mailbox.size === 0) {
          results.push(actor.apply(event));
        } else {
          results.push(actor.mailbox.post(() => actor.apply(event)));
          queued = true;
        }
      }
    }
    const applied = queued ? await Promise.all(results) : (results as Array<Applied | null>);
    // Writes of one turn share a GroupCommit batch (and so one promise): wait for each distinct one once.
    let last: Promise<void> | undefined;
    const writes: Array<Promise<void>> = [];
    const deliveries: Delivery[] = [];
    for (let i = 0; i < applied.length; i++) {
      const a = applied[i];
      if (!a) continue;
      if (a.written !== last) writes.push((last = a.written));
      if (a.notification) deliveries.push({ user: users[i], notification: a.notification, item: from[i], packed: a.packed });
    }
    await Promise.all(writes);
    this.counters.notifications += deliveries.length;
    return deliveries;
  }

  /** A newest-first page of the user's timeline, with its unread count. */
  timeline(user: UserId, before: number | undefined, limit: number) {
    const actor = this.region.activateOwned(user);
    return actor.mailbox.post(async () => ({ ...(await actor.page(before, limit)), ...actor.state }));
  }

  /**
   * Entries above `since` (oldest first) and the user's counters: the replay half of `subscribe`. A subscribe's
   * first read carries the gateway's presence mark (`mark`), set here before the read is queued (see Presence).
   */
  since(user: UserId, since: number, limit: number, mark?: number) {
    const actor = this.region.activateOwned(user);
    if (mark !== undefined) this.presence.mark(user, actor.shard, mark);
    return actor.mailbox.post(async () => ({ items: await actor.since(since, limit), ...actor.state, ...actor.recovery }));
  }

  markRead(user: UserId, upTo: number) {
    const actor = this.region.activateOwned(user);
    return actor.mailbox.post(async () => {
      await actor.markRead(upTo);
      return actor.state;
    });
  }

  /** Drops idle actors (see ShardRegion.passivateIdle). */
  passivateIdle(now = Date.now()): number {
    return this.region.passivateIdle(now);
  }

  stats(): NodeActorStats {
    return {
      nodeId: this.opts.nodeId,
      epoch: this.region.epoch,
      shards: this.region.owned.size,
      activeUsers: this.region.actors.size,
      ...this.counters,
      ...this.region.counters,
      ...this.followers.counters,
      presence: this.presence.stats(),
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
