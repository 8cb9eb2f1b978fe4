import { HeraldError } from '../../core/HeraldError';
import { shardOf } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import type { UserId } from '../../core/Event';
import type { NodeOptions } from '../../core/config';
import { UserActor, type UserOptions } from '../user/UserActor';

/** What a region needs of its node's options: who it is, when actors idle out, and what its actors are given. */
export type RegionOptions = Pick<NodeOptions, 'nodeId' | 'shardCount' | 'idleMs'> & UserOptions;

/** Shards of users without an active actor, remembered at most. */
const SHARD_CACHE = 100_000;

/**
 * The shards a node serves at the current table epoch and the UserActors living in them: activated on demand,
 * passivated when idle, dropped when their shard leaves. Every node-side handler asks it who may be touched.
 */
export class ShardRegion {
  readonly actors = new Map<UserId, UserActor>();
  epoch = 0;
  owned: ReadonlySet<number> = new Set<number>();
  /** Owned shards being handed off: their work is refused until the table says who owns them. */
  readonly frozen = new Set<number>();
  owners: readonly string[] = [];
  readonly counters = { activations: 0, passivations: 0 };
  /** The epoch of the table that gave this node each shard it owns (a shard owned since start: its first table's). */
  private readonly gainedAt = new Map<number, number>();
  /** user → shard: the md5 behind it is computed once per user while the user is active. */
  private readonly shards = new Map<UserId, number>();

  constructor(
    private readonly store: NodeStore,
    private readonly opts: RegionOptions,
  ) {}

  /** The table as this node must honour it: its epoch, the shards it owns, and every shard's owner. */
  setTable(epoch: number, shards: number[], owners: readonly string[] = []): void {
    const owned = new Set(shards);
    for (const s of owned) if (!this.owned.has(s)) this.gainedAt.set(s, epoch);
    for (const s of this.gainedAt.keys()) if (!owned.has(s)) this.gainedAt.delete(s);
    this.epoch = epoch;
    this.owned = owned;
    this.owners = owners;
    for (const s of this.frozen) if (!this.owned.has(s)) this.frozen.delete(s);
    // Actors of shards this node lost hold state that now belongs to another node.
    for (const [id, actor] of this.actors) if (!this.owned.has(actor.shard)) this.actors.delete(id);
  }

  shardOf(user: UserId): number {
    const actor = this.actors.get(user);
    if (actor) return actor.shard;
    let shard = this.shards.get(user);
    if (shard === undefined) {
      // Bounded: users seen without an actor (refused work, fanout checks) are forgotten in bulk.
      if (this.shards.size >= SHARD_CACHE) this.shards.clear();
      shard = shardOf(user, this.opts.shardCount);
      this.shards.set(user, shard);
    }
    return shard;
  }

  /** Owned at this epoch and not being handed off. */
  serves(shard: number): boolean {
    return this.owned.has(shard) && !this.frozen.has(shard);
  }

  /**
   * Why work routed with `epoch` for `users` must be refused (fencing), or null. Work routed before this node
   * gained a shard is refused. Another epoch is no reason by itself: every flip bumps the epoch, and the nodes get
   * the new table one by one, so an exact match refused every event in flight at each move. A node cannot serve a
   * shard it has lost: a move freezes the shard on the old owner before the table flips, and it stays frozen until
   * that node's table says it is gone (a respawned old owner is routed nothing for it: routers use the new table).
   */
  refusal(epoch: number, users: UserId[]): string | null {
    for (const u of users) {
      const refused = this.refusalOf(epoch, this.shardOf(u));
      if (refused) return refused;
    }
    return null;
  }

  /** The same fencing for one shard already known (fanout batches carry each follower's shard). */
  refusalOf(epoch: number, shard: number): string | null {
    return !this.serves(shard) || epoch < this.gainedAt.get(shard)! ? 'HERALD_WRONG_OWNER' : null;
  }

  activateOwned(user: UserId): UserActor {
    if (!this.serves(this.shardOf(user))) {
      throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.opts.nodeId} does not serve ${user}`);
    }
    return this.activate(user);
  }

  /** The user's actor, activated from LevelDB if it is not active (or if its last write failed); `shard` if known. */
  activate(user: UserId, shard?: number): UserActor {
    let actor = this.actors.get(user);
    if (!actor || actor.failed) {
      actor = new UserActor(user, shard ?? this.shardOf(user), this.store, {
        timelineMax: this.opts.timelineMax,
        profile: this.opts.profile,
        aggregateWindowMs: this.opts.aggregateWindowMs,
        delivery: this.opts.delivery,
        shardCount: this.opts.shardCount,
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
      // An actor with writes in flight stays: a new one would read LevelDB before they land.
      if (actor.mailbox.size === 0 && !actor.writing && now - actor.lastUsed >= this.opts.idleMs) {
        this.actors.delete(id);
        n++;
      }
    }
    this.counters.passivations += n;
    return n;
  }

  /** Forgets the actors of `shard` (its data left this node). */
  forget(shard: number): void {
    for (const [id, actor] of this.actors) if (actor.shard === shard) this.actors.delete(id);
  }
}
