import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { HeraldError } from '../core/HeraldError';
import type { AllocationStrategy } from './AllocationStrategy';
import type { Move, NodeSpec, ShardTableData } from './ShardTableData';

/**
 * shard → node at an epoch: who owns each shard now and which shards are moving. Where shards should be is
 * the allocation strategy's to say (the Coordinator holds it). The gateway persists the table as JSON (written to
 * a temp file, then renamed, so a crash never leaves half a table).
 */
export class ShardTable {
  constructor(readonly data: ShardTableData) {
    if (!Array.isArray(data.owners) || data.owners.length !== data.shardCount)
      throw new HeraldError('HERALD_INTERNAL', 'a shard table needs an owner for every shard');
    data.moving ??= {};
  }

  /** A new cluster's table: every shard where `strategy` puts it. */
  static create(shardCount: number, nodes: NodeSpec[], strategy: AllocationStrategy): ShardTable {
    const data: ShardTableData = { shardCount, epoch: 1, nodes, pins: {} };
    return new ShardTable({ ...data, owners: strategy.allocate(data) });
  }

  /** The table in `file`, if there is one. A table written before owners were stored takes them from `strategy`. */
  static load(file: string, strategy?: AllocationStrategy): ShardTable | undefined {
    if (!existsSync(file)) return undefined;
    const data = JSON.parse(readFileSync(file, 'utf8')) as ShardTableData;
    if (!Number.isInteger(data.shardCount) || !Array.isArray(data.nodes) || !Number.isInteger(data.epoch) || (!data.owners && !strategy)) {
      throw new HeraldError('HERALD_INTERNAL', `corrupt shard table: ${file}`);
    }
    const pins = data.pins ?? {};
    return new ShardTable({ ...data, pins, owners: data.owners ?? strategy!.allocate({ ...data, pins }) });
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
    return this.data.owners!;
  }

  get moves(): Move[] {
    return Object.values(this.data.moving!);
  }

  ownerOf(shard: number): string {
    return this.data.owners![shard];
  }

  shardsOf(node: string): number[] {
    const out: number[] = [];
    this.owners.forEach((owner, shard) => owner === node && out.push(shard));
    return out;
  }

  /** The moves that would bring every shard to its `target` owner (none for shards already moving). */
  plan(target: readonly string[]): Array<{ shard: number; from: string; to: string }> {
    const out: Array<{ shard: number; from: string; to: string }> = [];
    target.forEach((to, shard) => {
      const from = this.ownerOf(shard);
      if (to !== from && !this.data.moving![shard]) out.push({ shard, from, to });
    });
    return out;
  }

  beginMove(shard: number, to: string): Move {
    const move: Move = { shard, from: this.ownerOf(shard), to, phase: 'copying' };
    this.data.moving![shard] = move;
    return move;
  }

  /** The new owner takes over: a new epoch. */
  flip(shard: number): void {
    const move = this.data.moving![shard];
    this.data.owners![shard] = move.to;
    this.data.moving![shard] = { ...move, phase: 'cleanup' };
    this.data.epoch++;
  }

  endMove(shard: number): void {
    delete this.data.moving![shard];
  }

  node(id: string): NodeSpec | undefined {
    return this.data.nodes.find((n) => n.id === id);
  }
}
