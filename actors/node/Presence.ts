import { HeraldError } from '../../core/HeraldError';
import type { UserId } from '../../core/Event';
import type { Delivery } from '../../core/nodeProtocol';
import type { PresenceStats } from '../../core/NodeStats';
import { PRESENCE_MAX, type PresenceUpdate } from '../../core/PresenceUpdate';

/**
 * Which users of this node's shards have a live subscriber on the gateway, so the node sends the gateway only
 * the notifications it can deliver (a celebrity's fanout chooses ~15 % of a million followers; a handful are
 * connected). Safe by default: a shard is "known" only once the gateway has stated its present users in full
 * (after this process started, or after the shard came here), and until then every delivery of it is sent.
 * A subscribe marks its user here when the node serves its `since` read (NodeActor.since), before the read:
 * a notification checked before the mark was written before the read (checks come after writes), so the replay
 * has it; one checked after finds the mark. Memory: the present users of owned shards; a lost shard is dropped.
 */
export class Presence {
  /** user → [shard, seq of the mark]. */
  private readonly users = new Map<UserId, [number, number]>();
  private readonly byShard = new Map<number, Set<UserId>>();
  private readonly known = new Set<number>();
  readonly counters = { presenceLiveSent: 0, presenceAbsentSkipped: 0 };

  constructor(
    /** The shards this node owns now (only those can become known). */
    private readonly owned: () => ReadonlySet<number>,
    /** A user's shard (only needed while an owned shard is not known). */
    private readonly shardOf: (user: UserId) => number,
  ) {}

  /** `user` (of `shard`) has a live subscription, as of the gateway's mark `seq`. */
  mark(user: UserId, shard: number, seq: number): void {
    const had = this.users.get(user);
    if (had && had[1] >= seq) return;
    this.users.set(user, [shard, seq]);
    let set = this.byShard.get(shard);
    if (!set) this.byShard.set(shard, (set = new Set()));
    set.add(user);
  }

  /** `user`'s last subscription ended at mark `seq`: forgotten, unless a later mark came first. */
  unmark(user: UserId, seq: number): void {
    const had = this.users.get(user);
    if (!had || had[1] > seq) return;
    this.users.delete(user);
    const set = this.byShard.get(had[0]);
    set?.delete(user);
    if (set?.size === 0) this.byShard.delete(had[0]);
  }

  /** Applies a `presence` message (checked first: it comes from another process). */
  update(msg: PresenceUpdate, shardCount: number): { present: number } {
    checkUpdate(msg, shardCount);
    const owned = this.owned();
    // A shard not owned (any more) when this arrives is not kept: it is stated again if it comes back.
    for (const [user, shard, seq] of msg.present ?? []) if (owned.has(shard)) this.mark(user, shard, seq);
    for (const shard of msg.known ?? []) if (owned.has(shard)) this.known.add(shard);
    for (const [user, , seq] of msg.absent ?? []) this.unmark(user, seq);
    return { present: this.users.size };
  }

  /** Forgets `shard` (it left this node): unknown again, its users dropped. */
  forget(shard: number): void {
    this.known.delete(shard);
    for (const user of this.byShard.get(shard) ?? []) this.users.delete(user);
    this.byShard.delete(shard);
  }

  /** The deliveries the gateway can deliver: of present users, or of shards whose presence is not known. */
  live(deliveries: Delivery[]): Delivery[] {
    if (deliveries.length === 0) return deliveries;
    let allKnown = true;
    for (const s of this.owned()) if (!this.known.has(s)) allKnown = false;
    const out: Delivery[] = [];
    for (const d of deliveries) {
      if (this.users.has(d.user) || (!allKnown && !this.known.has(this.shardOf(d.user)))) out.push(d);
    }
    this.counters.presenceLiveSent += out.length;
    this.counters.presenceAbsentSkipped += deliveries.length - out.length;
    return out;
  }

  stats(): PresenceStats {
    return { users: this.users.size, knownShards: this.known.size, ...this.counters };
  }
}

const isEntry = (e: unknown, shardCount: number) =>
  Array.isArray(e) &&
  e.length === 3 &&
  typeof e[0] === 'string' &&
  e[0].length > 0 &&
  e[0].length <= 256 &&
  Number.isInteger(e[1]) &&
  e[1] >= 0 &&
  e[1] < shardCount &&
  Number.isSafeInteger(e[2]) &&
  e[2] >= 0;

const entries = (v: unknown, shardCount: number) => v === undefined || (Array.isArray(v) && v.length <= PRESENCE_MAX && v.every((e) => isEntry(e, shardCount)));

/** A presence message comes from another process: its shape is checked before anything changes. */
export function checkUpdate(msg: PresenceUpdate, shardCount: number): void {
  const ok =
    msg !== null &&
    typeof msg === 'object' &&
    entries(msg.present, shardCount) &&
    entries(msg.absent, shardCount) &&
    (msg.known === undefined ||
      (Array.isArray(msg.known) && msg.known.length <= shardCount && msg.known.every((s) => Number.isInteger(s) && s >= 0 && s < shardCount)));
  if (!ok) throw new HeraldError('HERALD_INVALID_MESSAGE', 'malformed presence message');
}

/** The `presence` argument of a `since` call (a subscribe's first read): the mark's seq, or undefined. */
export function markOf(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new HeraldError('HERALD_INVALID_MESSAGE', 'malformed presence mark');
  return v as number;
}
