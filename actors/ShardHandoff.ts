import { HeraldError } from '../storage/HeraldError';
import type { NodeStore } from '../storage/NodeStore';
import { ShardRange } from '../storage/ShardRange';
import type { ShardRegion } from './ShardRegion';

/**
 * A node's side of a live shard move (the Coordinator drives it): the old owner freezes the shard, exports its
 * keys and drops them once the new owner holds them; the new owner imports them before the table flips.
 */
export class ShardHandoff {
  private readonly range: ShardRange;

  constructor(
    private readonly store: NodeStore,
    private readonly region: ShardRegion,
    private readonly nodeId: string,
    private readonly shardCount: number,
  ) {
    this.range = new ShardRange(store);
  }

  /**
   * Old owner: refuse new work for `shard` (the router holds its events meanwhile) and resolve once every
   * mailbox of its users is empty, so what is exported afterwards is complete.
   */
  async freeze(shard: number): Promise<void> {
    if (!this.region.owned.has(shard)) throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.nodeId} does not own shard ${shard}`);
    this.region.frozen.add(shard);
    const busy = () => [...this.region.actors.values()].filter((a) => a.shard === shard && a.mailbox.size > 0);
    for (let waiting = busy(); waiting.length; waiting = busy()) await Promise.all(waiting.map((a) => a.mailbox.post(() => undefined)));
    await this.store.applied.drain();
    await this.store.durable.drain();
  }

  /** Rolls a failed handoff back: the shard takes work again. */
  unfreeze(shard: number): void {
    this.region.frozen.delete(shard);
  }

  /** Old owner: the shard's keys in order after `after`, at most `limit` (a range scan over its prefix). */
  export(shard: number, after: string | undefined, limit: number) {
    return this.range.read(shard, after, limit);
  }

  /** New owner: writes a part of a shard, fsynced (the table flips to this node only after). */
  import(shard: number, rows: Array<[string, Uint8Array]>): Promise<void> {
    return this.range.write(shard, rows);
  }

  /** Deletes every key of a shard this node does not own (after a move, or to roll one back). */
  async drop(shard: number): Promise<number> {
    if (this.region.owned.has(shard)) throw new HeraldError('HERALD_INVALID_MESSAGE', `node ${this.nodeId} still owns shard ${shard}`);
    this.region.forget(shard);
    return this.range.drop(shard);
  }

  /** Shards this node does not own but holds keys of (should be none once moves are done). */
  async strays(): Promise<number[]> {
    const stray: number[] = [];
    for (let s = 0; s < this.shardCount; s++) if (!this.region.owned.has(s) && !(await this.range.isEmpty(s))) stray.push(s);
    return stray;
  }

  /** Approximate bytes on disk per owned shard: what `admin status` shows. */
  async sizes(): Promise<Record<number, number>> {
    const out: Record<number, number> = {};
    for (const s of this.region.owned) out[s] = await this.range.size(s);
    return out;
  }
}
