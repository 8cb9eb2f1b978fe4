import type { Op } from './GroupCommit';
import { shardPrefix } from './Keyspace';
import type { NodeStore } from './NodeStore';

/** Every shard key starts with its 5-character prefix (`Keyspace.shardPrefix`: 4 hex digits and `!`). */
const PREFIX_LENGTH = shardPrefix(0).length;

/**
 * The keys of shards being copied that this node wrote (or deleted) since the copy's snapshot: a live handoff
 * streams a snapshot while the shard keeps taking work, then re-sends only these keys with the shard frozen.
 * It watches both of the store's writers, so every write of the node is seen as it is queued.
 */
export class ShardJournal {
  private readonly touched = new Map<string, Set<string>>();

  constructor(store: NodeStore) {
    const record = (ops: readonly Op[]) => this.record(ops);
    store.durable.onWrite = record;
    store.applied.onWrite = record;
  }

  /** Starts (or restarts, empty) the journal of `shard`. */
  start(shard: number): void {
    this.touched.set(shardPrefix(shard), new Set());
  }

  /** Whether `shard` is journaled. */
  has(shard: number): boolean {
    return this.touched.has(shardPrefix(shard));
  }

  /** The keys of `shard` written since `start`, without ending the journal. */
  keys(shard: number): string[] {
    return [...(this.touched.get(shardPrefix(shard)) ?? [])];
  }

  /** Ends the journal of `shard`. */
  stop(shard: number): void {
    this.touched.delete(shardPrefix(shard));
  }

  private record(ops: readonly Op[]): void {
    if (this.touched.size === 0) return;
    for (const op of ops) this.touched.get(op.key.slice(0, PREFIX_LENGTH))?.add(op.key);
  }
}
