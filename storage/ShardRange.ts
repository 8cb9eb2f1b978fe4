import { unpack } from './Codec';
import { HeraldError } from './HeraldError';
import { HIGH, kindRange, shardPrefix } from './Keyspace';
import type { NodeStore } from './NodeStore';

/**
 * A shard's keys as one range (`<shard>!…`): what a handoff streams out, writes in and deletes, and what
 * the node-level checks look at. Every per-user key lives under its shard's prefix, so this is all of it.
 */
export class ShardRange {
  constructor(private readonly store: NodeStore) {}

  /** The shard's keys in order after `after`, at most `limit`; `next` is set when more follow. */
  async read(shard: number, after: string | undefined, limit: number): Promise<{ rows: Array<[string, Uint8Array]>; next?: string }> {
    const prefix = shardPrefix(shard);
    const rows = await this.store.db.iterator({ gt: after ?? prefix, lt: prefix + HIGH, limit }).all();
    return rows.length === limit ? { rows, next: rows[rows.length - 1][0] } : { rows };
  }

  /** Writes a part of a shard, fsynced. Keys outside it are refused. */
  async write(shard: number, rows: Array<[string, Uint8Array]>): Promise<void> {
    const prefix = shardPrefix(shard);
    if (rows.some(([k]) => !k.startsWith(prefix))) throw new HeraldError('HERALD_INVALID_MESSAGE', `keys outside shard ${shard}`);
    await this.store.durable.write(rows.map(([key, value]) => ({ type: 'put', key, value })));
  }

  /** Deletes every key of the shard, a few thousand at a time; returns how many. */
  async drop(shard: number): Promise<number> {
    const prefix = shardPrefix(shard);
    let dropped = 0;
    for (;;) {
      const keys = await this.store.db.keys({ gt: prefix, lt: prefix + HIGH, limit: 5000 }).all();
      if (!keys.length) return dropped;
      await this.store.applied.write(keys.map((key) => ({ type: 'del', key })));
      dropped += keys.length;
    }
  }

  async isEmpty(shard: number): Promise<boolean> {
    const prefix = shardPrefix(shard);
    return (await this.store.db.keys({ gt: prefix, lt: prefix + HIGH, limit: 1 }).all()).length === 0;
  }

  /** Approximate bytes on disk. */
  size(shard: number): Promise<number> {
    return this.store.db.approximateSize(shardPrefix(shard), shardPrefix(shard) + HIGH);
  }

  /**
   * Forgets event ids applied before `olderThan` (the dedupe window) in a shard: a producer retry older than
   * the window would apply again. Streams the dedupe keys, so memory stays flat.
   */
  async sweepDedupe(shard: number, olderThan: number): Promise<number> {
    const appliedAt = (v: Uint8Array) => {
      const r = unpack<{ at: number } | number>(v);
      return typeof r === 'number' ? r : r.at;
    };
    let dropped = 0;
    const it = this.store.db.iterator(kindRange(shard, 'd'));
    try {
      for (let rows = await it.nextv(1000); rows.length; rows = await it.nextv(1000)) {
        const stale = rows.filter(([, v]) => appliedAt(v) < olderThan).map(([key]) => ({ type: 'del' as const, key }));
        dropped += stale.length;
        await this.store.applied.write(stale);
      }
    } finally {
      await it.close();
    }
    return dropped;
  }
}
