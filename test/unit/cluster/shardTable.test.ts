import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ring } from '../../../cluster/Ring';
import { ringAllocation } from '../../../cluster/RingAllocation';
import { ShardTable } from '../../../cluster/ShardTable';
import type { ShardTableData } from '../../../cluster/ShardTableData';

/** A table whose owners are where the ring puts them. */
const placed = (data: ShardTableData) => new ShardTable({ ...data, owners: ringAllocation.allocate(data) });
const plan = (t: ShardTable) => t.plan(ringAllocation.allocate(t.data));

const specs = [{ id: 'node-1' }, { id: 'node-2' }, { id: 'node-3', host: '10.0.0.3:6161' }];

describe('ShardTable', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-shardtable-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('places shards by the ring and starts at epoch 1', () => {
    const t = ShardTable.create(64, specs, ringAllocation);
    expect(t.epoch).toBe(1);
    expect(t.shardCount).toBe(64);
    const ring = new Ring(specs.map((s) => s.id));
    for (let s = 0; s < 64; s++) expect(t.ownerOf(s)).toBe(ring.nodeFor(s));
  });

  it('round-trips through save/load, keeping epoch, nodes, pins and placement', () => {
    const file = join(dir, 'shards.json');
    const t = placed({ shardCount: 32, epoch: 7, nodes: specs, pins: { 5: 'node-3' } });
    t.save(file);
    expect(existsSync(file + '.tmp')).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const back = ShardTable.load(file)!;
    expect(back.epoch).toBe(7);
    expect(back.data).toEqual(t.data);
    for (let s = 0; s < 32; s++) expect(back.ownerOf(s)).toBe(t.ownerOf(s));
  });

  it('load returns undefined for a missing file and rejects a corrupt one', () => {
    expect(ShardTable.load(join(dir, 'nope.json'))).toBeUndefined();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ shardCount: 'x', nodes: [], epoch: 1 }));
    expect(() => ShardTable.load(bad)).toThrow(expect.objectContaining({ code: 'HERALD_INTERNAL' }));
  });

  it('fills missing pins with {} on load, and the owners of a table from before they were stored from the strategy', () => {
    const file = join(dir, 'old.json');
    writeFileSync(file, JSON.stringify({ shardCount: 8, epoch: 2, nodes: specs }));
    expect(() => ShardTable.load(file)).toThrow(expect.objectContaining({ code: 'HERALD_INTERNAL' }));
    const old = ShardTable.load(file, ringAllocation)!;
    expect(old.data.pins).toEqual({});
    expect(old.owners).toEqual(ShardTable.create(8, specs, ringAllocation).owners);
  });

  it('pins override the ring in the plan; owners change only by moves', () => {
    const plain = ShardTable.create(64, specs, ringAllocation);
    const shard = plain.shardsOf('node-1')[0];
    const pinned = new ShardTable({ ...plain.data, owners: [...plain.owners], epoch: 2, pins: { [shard]: 'node-2' } });
    expect(pinned.ownerOf(shard)).toBe('node-1');
    expect(plan(pinned)).toEqual([{ shard, from: 'node-1', to: 'node-2' }]);
    pinned.beginMove(shard, 'node-2');
    expect(plan(pinned)).toEqual([]);
    pinned.flip(shard);
    expect(pinned.epoch).toBe(3);
    expect(pinned.ownerOf(shard)).toBe('node-2');
    expect(pinned.moves).toEqual([{ shard, from: 'node-1', to: 'node-2', phase: 'cleanup' }]);
    pinned.endMove(shard);
    expect(pinned.shardsOf('node-1')).not.toContain(shard);
    expect(pinned.shardsOf('node-2')).toContain(shard);
    for (let s = 0; s < 64; s++) if (s !== shard) expect(pinned.ownerOf(s)).toBe(plain.ownerOf(s));
  });

  it('plans moves onto an added node only, and off a draining node', () => {
    const t = ShardTable.create(256, specs, ringAllocation);
    t.data.nodes.push({ id: 'node-4' });
    const moves = plan(t);
    expect(moves.every((m) => m.to === 'node-4')).toBe(true);
    expect(moves.length).toBeGreaterThan(40);
    t.data.nodes.find((n) => n.id === 'node-2')!.draining = true;
    const drain = plan(t).filter((m) => m.from === 'node-2');
    expect(drain.length).toBe(t.shardsOf('node-2').length);
    expect(plan(t).every((m) => m.to !== 'node-2')).toBe(true);
  });

  it('shardsOf and ownerOf agree and partition all shards', () => {
    const t = placed({ shardCount: 128, epoch: 3, nodes: specs, pins: { 1: 'node-3', 2: 'node-1' } });
    const all: number[] = [];
    for (const { id } of specs) {
      const mine = t.shardsOf(id);
      for (const s of mine) expect(t.ownerOf(s)).toBe(id);
      all.push(...mine);
    }
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 128 }, (_, i) => i));
    expect(t.shardsOf('node-9')).toEqual([]);
  });
});
