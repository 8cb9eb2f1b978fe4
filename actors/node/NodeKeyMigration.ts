import { pack } from '../../core/Codec';
import type { DeadLetter, DeliveryJob } from '../../core/OutboundDelivery';
import type { Op } from '../../storage/GroupCommit';
import { HIGH, LEGACY_DEAD_PREFIX, LEGACY_QUEUE_PREFIX, LEGACY_TWEET_PREFIX, shardOf, shardPrefix, userKey } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import { ShardRange } from '../../storage/ShardRange';
import { DeliveryQueue } from '../delivery/DeliveryQueue';

/** Legacy keys moved per atomic batch. */
const BATCH = 500;

/**
 * Moves what earlier versions kept at node level — queued sends (`~q`), dead letters (`~dlq`), explain records
 * (`~tw`) — under the shards they belong to, so they move with them (docs/rebalancing.md). Each batch deletes the
 * old keys and puts the new ones atomically, so a crash midway leaves every record exactly once and the next
 * start goes on. A send and a dead letter go to their user's shard; an explain record names no follower, so it
 * goes to every shard this node holds keys of (the shards whose followers its fanouts decided). Returns the
 * records moved (0 on a DB without legacy keys, after one short read per prefix).
 */
export async function migrateNodeKeys(store: NodeStore, shardCount: number): Promise<number> {
  let moved = 0;
  moved += await migrate(store, LEGACY_QUEUE_PREFIX, (_key, value) => {
    const job = value as DeliveryJob;
    return [{ type: 'put', key: DeliveryQueue.keyOf(shardOf(job.user, shardCount), job), value: pack(job) }];
  });
  moved += await migrate(store, LEGACY_DEAD_PREFIX, (_key, value) => {
    const letter = value as DeadLetter;
    const id = shardPrefix(shardOf(letter.job.user, shardCount)) + letter.id;
    return [{ type: 'put', key: DeliveryQueue.deadKeyOf(id), value: pack({ ...letter, id }) }];
  });
  const tweets = await store.db.keys({ gt: LEGACY_TWEET_PREFIX, lt: LEGACY_TWEET_PREFIX + HIGH, limit: 1 }).all();
  if (tweets.length) {
    const shards = await new ShardRange(store).nonEmpty(Array.from({ length: shardCount }, (_, s) => s));
    moved += await migrate(store, LEGACY_TWEET_PREFIX, (key, value) =>
      shards.map((s) => ({ type: 'put', key: userKey(s, 'x', key.slice(LEGACY_TWEET_PREFIX.length)), value: pack(value) })),
    );
  }
  return moved;
}

async function migrate(store: NodeStore, prefix: string, into: (key: string, value: unknown) => Op[]): Promise<number> {
  let moved = 0;
  for (;;) {
    const rows = await store.scan<unknown>({ gt: prefix, lt: prefix + HIGH, limit: BATCH });
    if (!rows.length) return moved;
    const ops: Op[] = [];
    for (const [key, value] of rows) ops.push({ type: 'del', key }, ...into(key, value));
    await store.durable.write(ops);
    moved += rows.length;
  }
}
