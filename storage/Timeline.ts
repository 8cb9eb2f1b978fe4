import { pack } from '../core/Codec';
import type { Op } from './GroupCommit';
import { seqKey, userKey, userRange } from './Keyspace';
import type { NodeStore } from './NodeStore';

/**
 * Per-user timeline counters: `last` is the newest offset (0 = empty), `read` the read marker, `first` the
 * oldest offset still kept (retention), `epoch` names this incarnation of the timeline: offsets from another
 * epoch mean nothing here, so a client that resumes with another epoch must reload. `kept` counts the visible
 * entries in first..last and `unread` those above `read`: an entry a later aggregate superseded is removed, so
 * its offset is a hole that neither counts (absent in metas written before them: no holes then).
 */
export interface TimelineMeta {
  last: number;
  read: number;
  first?: number;
  epoch?: string;
  kept?: number;
  unread?: number;
}

/**
 * A user's timeline in its owner's LevelDB: entries keyed by offset (1, 2, 3, ... never reused, never skipped)
 * and one meta record. Writes are returned as ops so the caller commits them atomically with the dedupe key.
 */
export class Timeline<E extends { offset: number }> {
  /** Where the meta record lives: `<shard>!u!<user>`. */
  readonly metaKey: string;

  constructor(
    private readonly store: NodeStore,
    private readonly shard: number,
    private readonly user: string,
  ) {
    this.metaKey = userKey(shard, 'u', user);
  }

  readMeta(): TimelineMeta {
    return this.store.getSync<TimelineMeta>(this.metaKey) ?? { last: 0, read: 0 };
  }

  metaOp(meta: TimelineMeta): Op {
    return { type: 'put', key: this.metaKey, value: pack(meta) };
  }

  entryOp(entry: E): Op {
    return { type: 'put', key: userKey(this.shard, 't', this.user, seqKey(entry.offset)), value: pack(entry) };
  }

  dropOp(offset: number): Op {
    return { type: 'del', key: userKey(this.shard, 't', this.user, seqKey(offset)) };
  }

  /**
   * Newest first, strictly below `before` (default: from the newest), leaving out entries that `skip` says a
   * later one superseded; `scanned` is the oldest offset looked at (the cursor for the next page).
   */
  async page(before: number | undefined, limit: number, skip: (e: E) => boolean = () => false): Promise<{ items: E[]; scanned?: number }> {
    const range = userRange(this.shard, 't', this.user);
    let lt = before === undefined ? range.lt : userKey(this.shard, 't', this.user, seqKey(before));
    const items: E[] = [];
    let scanned: number | undefined;
    while (items.length < limit) {
      const want = limit - items.length;
      const rows = await this.store.scan<E>({ gt: range.gt, lt, reverse: true, limit: want });
      for (const [, v] of rows) if (!skip(v)) items.push(v);
      if (rows.length === 0) break;
      scanned = rows[rows.length - 1][1].offset;
      lt = rows[rows.length - 1][0];
      if (rows.length < want) break;
    }
    return { items, scanned };
  }

  /**
   * Every offset strictly above `since` (and from `first` on), oldest first, at most `limit`: the stored entries,
   * and for each hole between them (an entry a later aggregate superseded) what `hole(offset, next)` makes of it,
   * `next` being the entry after the hole. A replay has no silent gap: holes are answered as such. Without
   * `hole`, only the stored entries.
   */
  async since(since: number, limit: number, first = 1, hole?: (offset: number, next: E) => E): Promise<E[]> {
    const range = userRange(this.shard, 't', this.user);
    const rows = await this.store.scan<E>({ gt: userKey(this.shard, 't', this.user, seqKey(since)), lt: range.lt, limit });
    if (!hole) return rows.map(([, v]) => v);
    const out: E[] = [];
    let expected = Math.max(since + 1, first);
    for (const [, v] of rows) {
      while (expected < v.offset && out.length < limit) out.push(hole(expected++, v));
      if (out.length >= limit) break;
      out.push(v);
      expected = v.offset + 1;
    }
    return out;
  }

  /** How many entries are stored in `gt < offset <= lte` (keys only: a read marker's move over holes). */
  async count(gt: number, lte: number): Promise<number> {
    const key = (offset: number) => userKey(this.shard, 't', this.user, seqKey(offset));
    return (await this.store.db.keys({ gt: key(gt), lte: key(lte) }).all()).length;
  }

  /** Whether the entry at `offset` is stored (a point read of its key, the value left undecoded). */
  has(offset: number): boolean {
    return this.store.db.getSync(userKey(this.shard, 't', this.user, seqKey(offset))) !== undefined;
  }
}
