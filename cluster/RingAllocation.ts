import type { AllocationStrategy } from './AllocationStrategy';
import { Ring } from './Ring';

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
