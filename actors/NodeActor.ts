import { pack, unpack } from '../storage/Codec';
import { HeraldError } from '../storage/HeraldError';
import { HIGH, LOG_PREFIX, SEP, seqKey, shardOf, shardPrefix } from '../storage/Keyspace';
import type { Logger } from '../storage/logger';
import type { NodeStore } from '../storage/NodeStore';
import type { HeraldEvent, Notification, UserId } from './Event';
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
}

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
  private nextSeq = 1;
  private sweeper?: NodeJS.Timeout;
  private dedupeSweeper?: NodeJS.Timeout;
  readonly counters = { batches: 0, events: 0, notifications: 0, activations: 0, passivations: 0, replayed: 0 };

  constructor(
    private readonly store: NodeStore,
    private readonly opts: NodeOptions,
    private readonly log: Logger,
  ) {}

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
  }

  /**
   * Forgets event ids applied before `olderThan` (the dedupe window): a producer retry older than the window
   * would apply again. Streams the dedupe keys of each owned shard, so memory stays flat.
   */
  async sweepDedupe(olderThan: number): Promise<number> {
    let dropped = 0;
    for (const shard of this.owned) {
      const prefix = shardPrefix(shard) + 'd' + SEP;
      const it = this.store.db.iterator({ gt: prefix, lt: prefix + HIGH });
      try {
        for (let rows = await it.nextv(1000); rows.length; rows = await it.nextv(1000)) {
          const stale = rows.filter(([, v]) => unpack<number>(v) < olderThan).map(([key]) => ({ type: 'del' as const, key }));
          dropped += stale.length;
          await this.store.applied.write(stale);
        }
      } finally {
        await it.close();
      }
    }
    if (dropped) this.log.info({ dropped }, 'swept dedupe keys past the window');
    return dropped;
  }

  /** The shard table as this node must honour it: its epoch and the shards this node owns at that epoch. */
  setTable(epoch: number, shards: number[]): void {
    this.epoch = epoch;
    this.owned = new Set(shards);
    this.log.info({ epoch, shards: shards.length }, 'shard table set');
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
    return { errors, deliveries };
  }

  private refusal(epoch: number, users: UserId[]): string | null {
    if (epoch !== this.epoch) return 'HERALD_WRONG_OWNER';
    for (const u of users) if (!this.owned.has(shardOf(u, this.opts.shardCount))) return 'HERALD_WRONG_OWNER';
    return null;
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
    if (!this.owned.has(shardOf(user, this.opts.shardCount))) {
      throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not own ${user}`);
    }
    return this.activate(user);
  }

  private activate(user: UserId): UserActor {
    let actor = this.actors.get(user);
    if (!actor) {
      actor = new UserActor(user, shardOf(user, this.opts.shardCount), this.store, this.opts.timelineMax);
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
    return { nodeId: this.opts.nodeId, epoch: this.epoch, shards: this.owned.size, activeUsers: this.actors.size, ...this.counters };
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.dedupeSweeper);
    await this.store.close();
  }
}

