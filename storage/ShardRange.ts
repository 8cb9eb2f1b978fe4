import { readdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { unpack } from '../core/Codec';
import { HeraldError } from '../core/HeraldError';
import type { ShardPart } from '../core/ShardPart';
import { HIGH, META_PREFIX, kindRange, shardPrefix } from './Keyspace';
import type { NodeStore } from './NodeStore';
import { decodeFrame, encodeFrame, type FrameRow } from './ShardFrame';

/** A read of a shard's keys from the snapshot taken when it was opened (LevelDB iterators read one). */
export interface ShardSnapshot {
  nextv(n: number): Promise<Array<[string, Uint8Array]>>;
  close(): Promise<void>;
}

/**
 * A shard's keys as one range (`<shard>!…`): what a handoff streams out, writes in and deletes, and what
 * the node-level checks look at. Every per-user key lives under its shard's prefix, so this is all of it.
 */
export class ShardRange {
  constructor(private readonly store: NodeStore) {}

  /** A snapshot of the shard's keys as they are now, read in order (a live handoff copies from it). */
  snapshot(shard: number): ShardSnapshot {
    const prefix = shardPrefix(shard);
    // A part of 2,000 rows of ~60 bytes fits in one native read (the default stops at 16 KB).
    return this.store.db.iterator({ gt: prefix, lt: prefix + HIGH, highWaterMarkBytes: 1 << 20 } as object);
  }

  /** The next at most `limit` rows of a snapshot as one frame; `done` once the snapshot is exhausted. */
  async readPart(snapshot: ShardSnapshot, limit: number): Promise<ShardPart & { done: boolean }> {
    const rows: FrameRow[] = [];
    // nextv may yield fewer rows than asked (it stops at highWaterMarkBytes): only an empty read is the end.
    while (rows.length < limit) {
      const got = await snapshot.nextv(limit - rows.length);
      if (!got.length) return { ...part(rows), done: true };
      for (const row of got) rows.push(row);
    }
    return { ...part(rows), done: false };
  }

  /** The current value of each key (or its deletion) as one frame: what a handoff re-sends of its journal. */
  async readKeys(keys: string[]): Promise<ShardPart> {
    const values = keys.length ? await this.store.db.getMany(keys) : [];
    return part(keys.map((k, i) => [k, values[i]]));
  }

  /**
   * Writes a frame of a shard (puts and deletions) in one batch, not synced: a handoff syncs once, with
   * `persist`, before the table flips. Keys outside the shard are refused. `derived`: more puts made from the
   * frame's rows, written in the same batch (and so atomically with them).
   */
  async writePart(shard: number, frame: Uint8Array, sync = false, derived?: (rows: readonly FrameRow[]) => FrameRow[]): Promise<number> {
    const prefix = shardPrefix(shard);
    const rows = decodeFrame(frame);
    if (rows.some(([key]) => !key.startsWith(prefix))) throw new HeraldError('HERALD_INVALID_MESSAGE', `keys outside shard ${shard}`);
    const batch = this.store.db.batch();
    for (const [key, value] of rows) {
      if (value) batch.put(key, value);
      else batch.del(key);
    }
    if (derived) for (const [key, value] of derived(rows)) if (key.startsWith(prefix) && value) batch.put(key, value);
    await batch.write({ sync });
    return rows.length;
  }

  /**
   * Makes every write so far durable: one synced write fsyncs LevelDB's current log, and the logs it rotated
   * away from (their memtables not yet in synced table files) are fsynced here. A handoff calls it before the flip.
   */
  async persist(): Promise<void> {
    await this.store.db.batch().put(PERSIST_KEY, new Uint8Array(0)).write({ sync: true });
    const dir = this.store.db.location;
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.log'))) {
      // A log removed meanwhile had its memtable written to a synced table file first.
      const fh = await open(join(dir, name), 'r').catch(() => undefined);
      if (!fh) continue;
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }

  /**
   * Deletes every key of the shard, at most `keysPerS` per second (0: LevelDB's own range clear, unpaced). Not
   * through the group-commit writers, so the node's own writes never share a batch with thousands of deletions;
   * not atomic: a crash in the middle leaves the rest, which the next drop deletes.
   */
  async drop(shard: number, keysPerS = 0): Promise<void> {
    const prefix = shardPrefix(shard);
    if (!keysPerS) return this.store.db.clear({ gt: prefix, lt: prefix + HIGH });
    const chunk = Math.max(1, Math.min(2000, Math.round(keysPerS / 10)));
    // Each chunk starts after the last key deleted: from the prefix, it would skip every tombstone written before.
    for (let started = Date.now(), done = 0, after = prefix; ;) {
      const keys = await this.store.db.keys({ gt: after, lt: prefix + HIGH, limit: chunk }).all();
      if (!keys.length) return;
      const batch = this.store.db.batch();
      for (const key of keys) batch.del(key);
      await batch.write();
      after = keys[keys.length - 1];
      done += keys.length;
      const wait = started + (done / keysPerS) * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * Which of `shards` hold at least one key. One small read per shard, each on libuv's threadpool: an iterator's
   * `seek` runs on the event loop, and seeking into a dropped shard skips its tombstones there (tens of thousands
   * until compaction removes them): polled by `admin status` during a rebalance, that stalled the old owners'
   * loops for 100–250 ms (docs/benchmarks.md). One read at a time, so it takes one pool thread.
   */
  async nonEmpty(shards: number[]): Promise<number[]> {
    const out: number[] = [];
    for (const shard of [...shards].sort((x, y) => x - y)) if (!(await this.isEmpty(shard))) out.push(shard);
    return out;
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

/** A node-level key (`~`) the persisting synced write puts: it carries no data. */
const PERSIST_KEY = META_PREFIX + 'persisted';

/** Rows as a frame; `bytes`: their keys' and values' bytes (the frame less its 8 bytes of lengths per row). */
function part(rows: FrameRow[]): ShardPart {
  const frame = encodeFrame(rows);
  return { frame, keys: rows.length, bytes: frame.byteLength - 8 * rows.length };
}
