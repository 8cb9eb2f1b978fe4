import { pack, unpack } from '../../core/Codec';
import type { Op } from '../../storage/GroupCommit';
import { kindRange, META_PREFIX, SEP, userKey } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import type { FrameRow } from '../../storage/ShardFrame';
import type { UserId } from '../../core/Event';
import type { ProfileData } from '../../core/Fanout';

/**
 * The fanout's candidate index, kept next to the interest profiles on the user's own node and derived from them:
 * which users of a shard rank an author among their top `INDEXED_RANK` followings (`<shard>!R!<author>!<user>`),
 * and which hold an entity among their recent engagements (`<shard>!N!<entity>!<user>`). The policy notifies a
 * follower only for a top-ranked author or a matching entity, so a celebrity's fanout reads the profiles of these
 * candidates instead of every follower's (on the benchmark's graph 16 % of a million). Extra entries are harmless
 * (a candidate is still decided from its profile); a missing one is not, so the entries are written in the same
 * atomic batch as the profile they come from.
 */

/** Authors indexed per user: its top followings down to this rank (the policy's `alwaysRank` may not exceed it). */
export const INDEXED_RANK = 5;
/** Set once every stored profile of the DB has its index entries (a DB from before the index is rebuilt at start). */
export const INDEX_COMPLETE_KEY = META_PREFIX + 'candidateIndex';
/** The value of an index entry (packed 1): only its key matters. */
export const PRESENT = pack(1);

/** What one profile puts in the index: its top authors and the entities it holds. */
export interface IndexTerms {
  top: readonly UserId[];
  entities: readonly string[];
}

export interface IndexChange {
  key: string;
  value: unknown;
}

/** What a stored profile puts in the index. */
export function termsOf(data: ProfileData | undefined): IndexTerms {
  if (!data) return { top: [], entities: [] };
  return { top: data.top.slice(0, INDEXED_RANK).map((s) => s[0]), entities: data.ent.map((s) => s[0]) };
}

/** The index puts and deletes that take `user` from `before` to `after`. */
export function indexChanges(shard: number, user: UserId, before: IndexTerms, after: IndexTerms, out: IndexChange[]): void {
  diff(shard, 'R', user, before.top, after.top, out);
  diff(shard, 'N', user, before.entities, after.entities, out);
}

function diff(shard: number, kind: 'R' | 'N', user: UserId, before: readonly string[], after: readonly string[], out: IndexChange[]): void {
  if (before.length === after.length && before.every((t, i) => t === after[i])) return;
  const was = new Set(before);
  const now = new Set(after);
  for (const t of was) if (!now.has(t)) out.push({ key: userKey(shard, kind, t, user), value: undefined });
  for (const t of now) if (!was.has(t)) out.push({ key: userKey(shard, kind, t, user), value: 1 });
}

/** The index keys of a profile written from scratch (the importer). */
export function indexKeys(shard: number, user: UserId, terms: IndexTerms): string[] {
  return [...terms.top.map((t) => userKey(shard, 'R', t, user)), ...[...new Set(terms.entities)].map((t) => userKey(shard, 'N', t, user))];
}

/**
 * The index rows of the profiles among a shard's rows (a part of a shard moving in): a shard from a node whose
 * index is not complete yet (an older DB still building it) arrives without some entries, so its new owner makes
 * them with the profiles, in the same batch.
 */
export function indexRowsOf(shard: number, rows: readonly FrameRow[]): FrameRow[] {
  const { gt } = kindRange(shard, 'P');
  const out: FrameRow[] = [];
  for (const [key, value] of rows) {
    if (!value || !key.startsWith(gt)) continue;
    for (const k of indexKeys(shard, key.slice(gt.length), termsOf(unpack<ProfileData>(value)))) out.push([k, PRESENT]);
  }
  return out;
}

/**
 * The users of `shard` between `first` and `last` (inclusive, key order) that rank `author` in their top
 * `INDEXED_RANK` or hold one of `entities`: a fanout's candidates among a run of one shard's followers.
 */
export async function candidatesIn(
  store: NodeStore,
  shard: number,
  author: UserId,
  entities: readonly string[],
  first: UserId,
  last: UserId,
): Promise<Set<UserId>> {
  const out = new Set<UserId>();
  const terms: Array<['R' | 'N', string]> = [['R', author], ...entities.map((e): ['N', string] => ['N', e])];
  await Promise.all(
    terms.map(async ([kind, term]) => {
      const base = userKey(shard, kind, term) + SEP;
      const keys = await store.db.keys({ gte: base + first, lte: base + last }).all();
      for (const k of keys) out.add(k.slice(base.length));
    }),
  );
  return out;
}

/** Whether every profile in this DB has its index entries. */
export function indexComplete(store: NodeStore): boolean {
  return store.db.getSync(INDEX_COMPLETE_KEY) !== undefined;
}

/** Marks the DB's index complete. */
async function markComplete(store: NodeStore): Promise<void> {
  await store.db.put(INDEX_COMPLETE_KEY, PRESENT, { sync: true });
}

/**
 * Builds the index from the stored profiles of a DB written before it existed: one scan of every shard's
 * profiles, then the mark. Returns the profiles indexed.
 */
export async function rebuildIndex(store: NodeStore, shardCount: number): Promise<number> {
  let profiles = 0;
  for (let shard = 0; shard < shardCount; shard++) {
    const range = kindRange(shard, 'P');
    const it = store.db.iterator({ gt: range.gt, lt: range.lt });
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (!chunk.length) break;
        // Through the node's writer, not a batch of its own: a shard being moved journals what is written to it.
        const ops: Op[] = [];
        for (const [key, value] of chunk) {
          const user = key.slice(range.gt.length);
          for (const k of indexKeys(shard, user, termsOf(unpack<ProfileData>(value)))) ops.push({ type: 'put', key: k, value: PRESENT });
          profiles++;
        }
        await store.applied.write(ops);
      }
    } finally {
      await it.close();
    }
  }
  await markComplete(store);
  return profiles;
}
