import type { ShardTableData } from './ShardTableData';

/** Decides where shards should live; the Coordinator moves them there. One strategy per file (RingAllocation). */
export interface AllocationStrategy {
  /** The wanted owner of every shard. */
  allocate(data: ShardTableData): string[];
}
