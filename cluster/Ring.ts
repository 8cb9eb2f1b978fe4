import { createHash } from 'node:crypto';
// consistent-hash ships no typings; this wrapper is the only place that touches it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ConsistentHash = require('consistent-hash') as new (opts: { range: number }) => {
  add(node: string, weight?: number, points?: number[]): void;
  remove(node: string): void;
  get(key: string): string | null;
};

const RANGE = 1_000_003;
/** Control points per node: enough for ±10% balance over 256 shards on 3 nodes (test/unit/ring.test.ts). */
export const POINTS_PER_NODE = 160;

function md5int(s: string): number {
  return createHash('md5').update(s).digest().readUInt32BE(0);
}

/**
 * The consistent-hash ring that places shards on nodes. Points are derived from the node id (md5 of
 * `node#i`), never random, so every process that builds a ring from the same nodes gets the same placement,
 * whatever order the nodes were added in; adding a node moves only shards onto it.
 */
export class Ring {
  private readonly nodes: string[];
  private readonly ring;

  constructor(nodes: Iterable<string>) {
    this.nodes = [...new Set(nodes)].sort();
    this.ring = new ConsistentHash({ range: RANGE });
    for (const node of this.nodes) {
      const points = Array.from({ length: POINTS_PER_NODE }, (_, i) => md5int(`${node}#${i}`) % RANGE);
      this.ring.add(node, POINTS_PER_NODE, points);
    }
  }

  /** The node that owns `shard` by the ring. The key is hashed first: the library's own string hash clusters. */
  nodeFor(shard: number): string {
    if (this.nodes.length === 0) throw new Error('ring has no nodes');
    const node = this.ring.get(md5int(`shard:${shard}`).toString(36));
    if (node === null) throw new Error('ring has no nodes');
    return node;
  }

  /** shard → node for every shard. */
  assign(shardCount: number): string[] {
    return Array.from({ length: shardCount }, (_, s) => this.nodeFor(s));
  }

  get members(): readonly string[] {
    return this.nodes;
  }
}
