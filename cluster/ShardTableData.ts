/** The shard table as it is stored (`<data>/cluster.json`): what ShardTable reads and allocation strategies place from. */

/** A node of the cluster: forked locally, or created on a `comedy-node` listener at `host` (h:port). */
export interface NodeSpec {
  id: string;
  host?: string;
  /** Being drained: takes no shards; removable once it owns none. */
  draining?: boolean;
}

/** A shard being handed off. `copying`: still owned by `from`; `cleanup`: owned by `to`, `from` drops its copy. */
export interface Move {
  shard: number;
  from: string;
  to: string;
  phase: 'copying' | 'cleanup';
}

export interface ShardTableData {
  /** Fixed at cluster creation: user → shard never changes. */
  shardCount: number;
  /** Rises on every change of ownership; every message to a node carries the epoch it was routed with. */
  epoch: number;
  nodes: NodeSpec[];
  /** Shards placed by hand (admin move-shard), overriding the strategy. */
  pins: Record<string, string>;
  /** The owner of every shard now (the strategy says where they should be; moves get them there). */
  owners?: string[];
  /** Moves in progress, by shard, so a coordinator restarted mid-move can finish or roll back each. */
  moving?: Record<string, Move>;
}
