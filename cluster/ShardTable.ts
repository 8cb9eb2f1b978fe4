import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { HeraldError } from '../storage/HeraldError';
import { Ring } from './Ring';

/** A node of the cluster: forked locally, or created on a `comedy-node` listener at `host` (h:port). */
export interface NodeSpec {
  id: string;
  host?: string;
}

export interface ShardTableData {
  /** Fixed at cluster creation: user → shard never changes. */
  shardCount: number;
  /** Rises on every change of ownership; every message to a node carries the epoch it was routed with. */
  epoch: number;
  nodes: NodeSpec[];
  /** Shards placed by hand (admin move-shard), overriding the ring. */
  pins: Record<string, string>;
}

/**
 * shard → node at an epoch. Placement is the consistent-hash ring over the nodes unless a shard is pinned.
 * The gateway persists it as JSON (written to a temp file, then renamed, so a crash never leaves half a table).
 */
export class ShardTable {
  private assignment: string[];

  constructor(readonly data: ShardTableData) {
    const ring = new Ring(data.nodes.map((n) => n.id));
    this.assignment = ring.assign(data.shardCount).map((node, shard) => data.pins[shard] ?? node);
  }

  static create(shardCount: number, nodes: NodeSpec[]): ShardTable {
    return new ShardTable({ shardCount, epoch: 1, nodes, pins: {} });
  }

  static load(file: string): ShardTable | undefined {
    if (!existsSync(file)) return undefined;
    const data = JSON.parse(readFileSync(file, 'utf8')) as ShardTableData;
    if (!Number.isInteger(data.shardCount) || !Array.isArray(data.nodes) || !Number.isInteger(data.epoch)) {
      throw new HeraldError('HERALD_INTERNAL', `corrupt shard table: ${file}`);
    }
    return new ShardTable({ ...data, pins: data.pins ?? {} });
  }

  save(file: string): void {
    writeFileSync(file + '.tmp', JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600 });
    renameSync(file + '.tmp', file);
  }

  get epoch(): number {
    return this.data.epoch;
  }

  get shardCount(): number {
    return this.data.shardCount;
  }

  /** shard → node, for every shard. */
  get owners(): readonly string[] {
    return this.assignment;
  }

  ownerOf(shard: number): string {
    return this.assignment[shard];
  }

  shardsOf(node: string): number[] {
    const out: number[] = [];
    this.assignment.forEach((owner, shard) => owner === node && out.push(shard));
    return out;
  }
}
