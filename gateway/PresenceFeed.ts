import { PRESENCE_MAX, type PresenceEntry, type PresenceUpdate } from '../core/PresenceUpdate';
import type { UserId } from '../core/Event';
import type { Coordinator } from '../cluster/Coordinator';
import type { NodeRef } from '../cluster/NodeRef';
import { shardOf } from '../storage/Keyspace';
import type { Logger } from '../core/logger';

/** A subscription's hold on its user's presence. Both ends are idempotent. */
export interface PresenceHold {
  /** The mark the subscribe's first `since` read carries (the owner marks the user present when it serves it). */
  readonly seq: number;
  /** That read has settled (answered or failed): a later end of the subscription may report the user absent. */
  settled(): void;
  /** The subscription ended. */
  closed(): void;
}

interface UserState {
  shard: number;
  /** The newest mark sent for the user. */
  seq: number;
  /** Subscriptions open, and those whose first read has not settled. */
  open: number;
  reading: number;
}

/**
 * Tells the owning nodes which users have a live subscription on this gateway (actors/node/Presence), so a node sends
 * the gateway only what it can deliver. Present: the subscribe's own `since` read marks it, on the node that serves
 * it. Absent: once the user's last subscription has ended and every one of its first reads has settled (a mark in
 * flight never lands after its user's absence). States a node's shards in full when the node starts or respawns
 * (`sync`) and a shard's when a move brought it to a node (`handOver`).
 */
export class PresenceFeed {
  /** Marks increase across gateway restarts too (a node that outlived a gateway keeps its marks' order). */
  private seq = Date.now() * 1000;
  private readonly users = new Map<UserId, UserState>();
  private readonly byShard = new Map<number, Set<UserId>>();
  /** Absences waiting for this turn's end, sent as one message per node. */
  private absent: PresenceEntry[] = [];

  constructor(
    private readonly coordinator: Coordinator,
    private readonly log: Logger,
  ) {}

  /** A subscription of `user` starts (before its first read is sent). */
  open(user: UserId): PresenceHold {
    let state = this.users.get(user);
    if (!state) {
      const shard = shardOf(user, this.coordinator.table.shardCount);
      this.users.set(user, (state = { shard, seq: 0, open: 0, reading: 0 }));
      let set = this.byShard.get(shard);
      if (!set) this.byShard.set(shard, (set = new Set()));
      set.add(user);
    }
    const s = state;
    s.open++;
    s.reading++;
    s.seq = ++this.seq;
    let reading = true;
    let open = true;
    return {
      seq: s.seq,
      settled: () => {
        if (!reading) return;
        reading = false;
        s.reading--;
        this.end(user, s);
      },
      closed: () => {
        if (!open) return;
        open = false;
        s.open--;
        this.end(user, s);
      },
    };
  }

  get size(): number {
    return this.users.size;
  }

  private end(user: UserId, s: UserState): void {
    if (s.open > 0 || s.reading > 0 || this.users.get(user) !== s) return;
    this.users.delete(user);
    const set = this.byShard.get(s.shard);
    set?.delete(user);
    if (set?.size === 0) this.byShard.delete(s.shard);
    if (this.absent.length === 0) setImmediate(() => this.flush());
    this.absent.push([user, s.shard, s.seq]);
  }

  /** Sends the absences of this turn to their shards' owners (a node that lost the shard meanwhile ignores them). */
  private flush(): void {
    const byNode = new Map<string, PresenceEntry[]>();
    for (const e of this.absent) {
      const node = this.coordinator.table.ownerOf(e[1]);
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(e);
    }
    this.absent = [];
    for (const [node, entries] of byNode) {
      const ref = this.coordinator.nodes.get(node);
      if (ref) for (let i = 0; i < entries.length; i += PRESENCE_MAX) void this.send(ref, { absent: entries.slice(i, i + PRESENCE_MAX) });
    }
  }

  /** States in full the presence of every shard `ref` owns in the current table (its process is new). */
  sync(ref: NodeRef): Promise<void> {
    return this.state(ref, this.coordinator.table.shardsOf(ref.id));
  }

  /** States in full the presence of `shard`, which a move just gave to `ref` (the node has the new table). */
  handOver(shard: number, ref: NodeRef): Promise<void> {
    return this.state(ref, [shard]);
  }

  private async state(ref: NodeRef, shards: number[]): Promise<void> {
    const present: PresenceEntry[] = [];
    for (const shard of shards) for (const user of this.byShard.get(shard) ?? []) present.push([user, shard, this.users.get(user)!.seq]);
    // In order on the node's link; `known` goes with the last part, only once every part before it has landed.
    for (let i = PRESENCE_MAX; i < present.length; i += PRESENCE_MAX) {
      if (!(await this.send(ref, { present: present.slice(i - PRESENCE_MAX, i) }))) return;
    }
    await this.send(ref, { present: present.slice(Math.max(0, Math.ceil(present.length / PRESENCE_MAX) - 1) * PRESENCE_MAX), known: shards });
  }

  /** One `presence` message; a node that misses one sends what it cannot tell apart (safe, only slower). */
  private send(ref: NodeRef, msg: PresenceUpdate): Promise<boolean> {
    return ref.call('presence', msg).then(
      () => true,
      (err) => {
        this.log.debug({ err, node: ref.id }, 'node missed a presence message');
        return false;
      },
    );
  }
}
