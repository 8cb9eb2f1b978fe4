import { md5Head } from './ShardHash';

/**
 * Key layout of a node's LevelDB. Every per-user key starts with its shard, so one range scan over
 * `<shard>!` streams a whole shard out (handoff), whatever the kind. Node-level keys start with `~`, which sorts
 * after every shard prefix. The separator `!` sorts below every character a UserId may hold, so the range of
 * user `a` never includes user `a.b`.
 */
export type Kind =
  | 't' // timeline entry: <shard>!t!<user>!<offset>
  | 'u' // user meta (last offset, read marker): <shard>!u!<user>
  | 'd' // dedupe index: <shard>!d!<user>!<actor>!<eventId>
  | 'f' // followings of user: <shard>!f!<user>!<followee>
  | 'F' // followers of user, by the follower's shard: <shard>!F!<user>!<follower's shard>!<follower>
  | 'w' // tweets by user: <shard>!w!<user>!<tweetId>
  | 'e' // engagements by user: <shard>!e!<user>!<ts>!<eventId>
  | 'a' // affinity of user to another: <shard>!a!<user>!<other>
  | 'P' // interest profile (Top-N followings, recent entities): <shard>!P!<user>
  | 'R' // fanout candidates: <user> ranks <author> in its top 5 followings: <shard>!R!<author>!<user>
  | 'N' // fanout candidates: <user> engaged recently with <entity>: <shard>!N!<entity>!<user>
  | 'g' // aggregate of likes/retweets of one tweet: <shard>!g!<user>!<type>!<tweetId>
  | 's' // settings: preferences, devices, locale, time zone: <shard>!s!<user>
  | 'c' // push slots taken (fatigue caps): <shard>!c!<user>
  | 'q' // queued send: <shard>!q!<channel>!<priority>!<dueAt>!<user>!<offset>!<address hash>
  | 'l' // dead letter: <shard>!l!<failedAt>!<channel>!<priority>!<dueAt>!<user>!<offset>!<address hash>
  | 'x' // explain record of a tweet whose fanout reached the shard: <shard>!x!<tweetId>
  | 'j'; // fanout job of a tweet by user, until every follower was decided: <shard>!j!<user>!<eventId>

export const SEP = '!';
/** Range over every key of one kind in one shard. */
export function kindRange(shard: number, kind: Kind): { gt: string; lt: string } {
  const base = shardPrefix(shard) + kind + SEP;
  return { gt: base, lt: base + HIGH };
}

/** Upper bound for range scans: sorts after every character used in keys. */
export const HIGH = '\uffff';

export function shardPrefix(shard: number): string {
  return shard.toString(16).padStart(4, '0') + SEP;
}

export function userKey(shard: number, kind: Kind, user: string, ...rest: string[]): string {
  return shardPrefix(shard) + kind + SEP + user + (rest.length ? SEP + rest.join(SEP) : '');
}

/**
 * A follower edge, stored under the followee. The follower's shard comes first so that a fanout streams the
 * followers shard by shard: each node then reads its followers' profiles in key order (LevelDB: ~2x cheaper per
 * read than scattered ones), and the shard is read from the key instead of hashed.
 */
export function followerKey(shard: number, user: string, followerShard: number, follower: string): string {
  return shardPrefix(shard) + 'F' + SEP + user + SEP + shardPrefix(followerShard) + follower;
}

/** Range over every key of one kind for one user. */
export function userRange(shard: number, kind: Kind, user: string): { gt: string; lt: string } {
  const base = userKey(shard, kind, user) + SEP;
  return { gt: base, lt: base + HIGH };
}

/** Fixed-width decimal so that lexicographic order is numeric order. */
export function seqKey(n: number): string {
  return n.toString().padStart(15, '0');
}

export const LOG_PREFIX = '~log' + SEP;
export const META_PREFIX = '~meta' + SEP;
/**
 * Node-level keys of earlier versions, moved under their shards at start (actors/node/NodeKeyMigration.ts): the
 * delivery queue, its dead letters, and the tweets this node decided fanout for (now `q`, `l`, `x` keys).
 */
export const LEGACY_QUEUE_PREFIX = '~q' + SEP;
export const LEGACY_DEAD_PREFIX = '~dlq' + SEP;
export const LEGACY_TWEET_PREFIX = '~tw' + SEP;

/** The shard a per-user key belongs to (its first part). */
export function shardOfKey(key: string): number {
  return parseInt(key.slice(0, 4), 16);
}

/**
 * user → shard: a stable hash (md5, first 4 bytes) modulo the cluster's fixed shard count. The shard is part of
 * every per-user key, so the function lives with the key layout; cluster/ places shards on nodes.
 */
export function shardOf(user: string, shardCount: number): number {
  return md5Head(user) % shardCount;
}
