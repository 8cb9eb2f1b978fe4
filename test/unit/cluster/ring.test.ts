import { describe, expect, it } from 'vitest';
import { Ring } from '../../../cluster/Ring';

const SHARDS = 256;
const nodes = (n: number) => Array.from({ length: n }, (_, i) => `node-${i + 1}`);

describe('Ring', () => {
  it('assigns the same shard→node map whatever the order the nodes are given in', () => {
    const base = new Ring(nodes(3)).assign(SHARDS);
    expect(new Ring(['node-3', 'node-1', 'node-2']).assign(SHARDS)).toEqual(base);
    expect(new Ring(['node-2', 'node-3', 'node-1', 'node-2']).assign(SHARDS)).toEqual(base);
    // and a second ring built alike agrees (no Math.random placement)
    expect(new Ring(nodes(3)).assign(SHARDS)).toEqual(base);
  });

  it('balances 256 shards over 3 nodes within ±10% of 256/3', () => {
    const assignment = new Ring(nodes(3)).assign(SHARDS);
    const ideal = SHARDS / 3;
    for (const node of nodes(3)) {
      const count = assignment.filter((n) => n === node).length;
      expect(count).toBeGreaterThanOrEqual(Math.floor(ideal * 0.9));
      expect(count).toBeLessThanOrEqual(Math.ceil(ideal * 1.1));
    }
  });

  it('going 3 → 4 nodes moves only shards onto node-4, about a quarter of them', () => {
    const before = new Ring(nodes(3)).assign(SHARDS);
    const after = new Ring(nodes(4)).assign(SHARDS);
    const moved = before.map((owner, s) => [owner, after[s]]).filter(([a, b]) => a !== b);
    for (const [, to] of moved) expect(to).toBe('node-4');
    expect(after.filter((n) => n === 'node-4').length).toBe(moved.length);
    expect(moved.length).toBeGreaterThan(SHARDS * 0.15);
    expect(moved.length).toBeLessThan(SHARDS * 0.35);
  });

  it('removing a node moves only the shards it owned', () => {
    const before = new Ring(nodes(4)).assign(SHARDS);
    const after = new Ring(['node-1', 'node-3', 'node-4']).assign(SHARDS);
    before.forEach((owner, s) => {
      if (owner === 'node-2') expect(after[s]).not.toBe('node-2');
      else expect(after[s]).toBe(owner);
    });
  });

  it('exposes sorted, de-duplicated members and refuses to place with no nodes', () => {
    expect(new Ring(['b', 'a', 'b']).members).toEqual(['a', 'b']);
    expect(() => new Ring([]).nodeFor(0)).toThrow(/no nodes/);
  });
});
