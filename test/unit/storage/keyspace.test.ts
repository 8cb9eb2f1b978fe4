import { hash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LOG_PREFIX, META_PREFIX, seqKey, shardOf, shardPrefix, userKey, userRange } from '../../../storage/Keyspace';

const within = (key: string, r: { gt: string; lt: string }) => key > r.gt && key < r.lt;

describe('Keyspace', () => {
  it('shardOf is stable (md5 first 4 bytes mod count)', () => {
    // Computed once (md5("alice") = 6384e2b2...): a regression check that the user → shard map never changes.
    expect(shardOf('alice', 256)).toBe(178);
    expect(shardOf('bob', 256)).toBe(188);
    expect(shardOf('alice', 65536)).toBe(58034);
    expect(shardOf('alice', 256)).toBe(shardOf('alice', 256));
  });

  it('shardOf hashes like node:crypto md5 for every id, short ASCII (computed in JS) or not', () => {
    const ref = (u: string) => hash('md5', u, 'buffer').readUInt32BE(0) % 65536;
    const ids = ['', 'alice', 'héllo', '🌍', 'a'.repeat(55), 'a'.repeat(56), 'x'.repeat(300), 'ü'.repeat(20)];
    for (let i = 0; i < 20_000; i++) ids.push(`u${i}`, `user-${i * 7919}`);
    for (let len = 0; len < 70; len++) ids.push(Array.from({ length: len }, (_, j) => String.fromCharCode(33 + ((j * 7 + len) % 94))).join(''));
    for (const id of ids) expect(shardOf(id, 65536), id).toBe(ref(id));
  });

  it('shardOf stays within [0, shardCount)', () => {
    for (const count of [1, 3, 7, 256]) {
      for (let i = 0; i < 500; i++) {
        const s = shardOf(`user-${i}`, count);
        expect(Number.isInteger(s)).toBe(true);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThan(count);
      }
    }
  });

  it('userKey layout and shard prefixes', () => {
    expect(userKey(10, 'f', 'a', 'b')).toBe('000a!f!a!b');
    expect(userKey(0, 'u', 'a')).toBe('0000!u!a');
    expect(shardPrefix(65535)).toBe('ffff!');
    // node-level keys sort after every shard
    expect(LOG_PREFIX > shardPrefix(65535) + 'z').toBe(true);
    expect(META_PREFIX > shardPrefix(65535) + 'z').toBe(true);
  });

  it("userRange of user 'a' holds its own keys and no key of 'a.b', 'a-b', 'a_' or 'a'+letter", () => {
    const r = userRange(3, 't', 'a');
    expect(within(userKey(3, 't', 'a', seqKey(1)), r)).toBe(true);
    expect(within(userKey(3, 't', 'a', seqKey(999_999)), r)).toBe(true);
    for (const other of ['a.b', 'a-b', 'a_', 'aa', 'aZ', 'a0', 'A']) {
      expect(within(userKey(3, 't', other, seqKey(1)), r)).toBe(false);
    }
    expect(within(userKey(3, 'u', 'a'), r)).toBe(false);
    expect(within(userKey(3, 'f', 'a', 'b'), r)).toBe(false);
    expect(within(userKey(4, 't', 'a', seqKey(1)), r)).toBe(false);
  });

  it('seqKey orders lexicographically as numbers do', () => {
    const nums = [0, 1, 2, 9, 10, 11, 99, 100, 1234, 99_999, 100_000, 2 ** 40, 999_999_999_999_999];
    const keys = nums.map(seqKey);
    expect([...keys].sort()).toEqual(keys);
    expect(new Set(keys.map((k) => k.length))).toEqual(new Set([15]));
    expect(seqKey(9) < seqKey(10)).toBe(true);
  });
});
