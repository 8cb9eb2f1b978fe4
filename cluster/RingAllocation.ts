import { Ring } from './Ring';
import type { ShardTableData } from './ShardTable';

/** Decides where shards should live; the Coordinator moves them there. One strategy per file. */
export interface AllocationStrategy {
  /** The wanted owner of every shard. */
  allocate(data: ShardTableData): string[];
}

/**
 * The default strategy: the consistent-hash ring over the nodes that are not draining, except shards pinned
 * by hand (`move-shard`) to a node that still takes shards. Adding a node moves only shards onto it.
 */
export const ringAllocation: AllocationStrategy = {
  allocate(data) {
    const active = data.nodes.filter((n) => !n.draining).map((n) => n.id);
    const ring = new Ring(active.length ? active : data.nodes.map((n) => n.id));
    return ring.assign(data.shardCount).map((node, shard) => {
      const pin = data.pins[shard];
      return pin && active.includes(pin) ? pin : node;
    });
  },
};
