import { Encoder } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { pack, packShared, unpack } from '../../../storage/Codec';

const library = new Encoder({ ignoreUndefined: true });

describe('Codec', () => {
  // Stored values must stay readable by any version: the fast writer must write what the library writes.
  const values: Record<string, unknown> = {
    ints: [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER],
    floats: [0.5, -1.25, 1e300, NaN, Infinity, -Infinity, 2 ** 60, 1700000000000.5],
    strings: ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(255), 'x'.repeat(256), 'y'.repeat(70000), 'héllo 🌍', 'é'.repeat(20), '🌍'.repeat(9), 'ü'.repeat(200)],
    notification: { offset: 12, type: 'like', actors: ['fan-1'], eventIds: ['E1'], ts: 1763779200123, text: 'fan-1 liked your tweet: b', tweetId: 't1', count: 1 },
    withUndefined: { a: 1, b: undefined, c: [undefined, null, true, false], d: { e: undefined } },
    bytes: { v: new Uint8Array([1, 2, 3]), big: new Uint8Array(300), buf: Buffer.from('abc') },
    nested: { top: [['bob', 1.5, 1763779200000]], ent: [], meta: { last: 5, read: 2, first: 1, epoch: 'a1b2c3' } },
    bigMap: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    bigArray: Array.from({ length: 70000 }, (_, i) => i % 300),
  };

  it.each(Object.keys(values))('writes %s byte for byte as @msgpack/msgpack does, and reads it back', (name) => {
    const v = values[name];
    const bytes = pack(v);
    expect(Buffer.from(bytes).equals(Buffer.from(library.encode(v)))).toBe(true);
    // Read back (byte arrays come back as Buffers, views of the input): the same value, so the same bytes again.
    expect(Buffer.from(library.encode(unpack(bytes))).equals(Buffer.from(library.encode(v)))).toBe(true);
  });

  it('hands what it does not write itself (dates, class instances, deep nesting) to the library', () => {
    const deep: unknown[] = [];
    let at = deep;
    for (let i = 0; i < 50; i++) at.push((at = []));
    for (const v of [new Date(0), { when: new Date(5) }, new (class P { x = 1 })(), deep]) {
      expect(Buffer.from(pack(v)).equals(Buffer.from(library.encode(v)))).toBe(true);
    }
  });

  it('pack returns a copy: a later pack does not change earlier bytes (packShared is a view until the next)', () => {
    const a = pack({ x: 'first' });
    const shared = packShared({ x: 'shared' });
    expect(unpack(shared)).toEqual({ x: 'shared' });
    pack({ x: 'second, longer than the first' });
    expect(unpack(a)).toEqual({ x: 'first' });
  });
});
