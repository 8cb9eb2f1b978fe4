import { Decoder, Encoder } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { pack, packShared, unpack } from '../../../core/Codec';

const library = new Encoder({ ignoreUndefined: true });
const libraryDecoder = new Decoder();

describe('Codec', () => {
  // Stored values must stay readable by any version: the fast writer must write what the library writes.
  const values: Record<string, unknown> = {
    ints: [
      0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      Number.MAX_SAFE_INTEGER,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      Number.MIN_SAFE_INTEGER,
    ],
    floats: [0.5, -1.25, 1e300, NaN, Infinity, -Infinity, 2 ** 60, 1700000000000.5],
    strings: [
      '',
      'a',
      'x'.repeat(31),
      'x'.repeat(32),
      'x'.repeat(255),
      'x'.repeat(256),
      'y'.repeat(70000),
      'héllo 🌍',
      'é'.repeat(20),
      '🌍'.repeat(9),
      'ü'.repeat(200),
    ],
    notification: {
      offset: 12,
      type: 'like',
      actors: ['fan-1'],
      eventIds: ['E1'],
      ts: 1763779200123,
      text: 'fan-1 liked your tweet: b',
      tweetId: 't1',
      count: 1,
    },
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
    for (const v of [
      new Date(0),
      { when: new Date(5) },
      new (class P {
        x = 1;
      })(),
      deep,
    ]) {
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

  // The reader must read what the library reads, to the same values: everything stored and every frame.
  it.each(Object.keys(values))('reads %s to what @msgpack/msgpack reads', (name) => {
    const bytes = Buffer.from(library.encode(values[name]));
    expect(unpack(bytes)).toEqual(libraryDecoder.decode(bytes));
  });

  it('reads random values as the library does, and refuses every truncation of them as it does', () => {
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const atoms = [
      0,
      -1,
      127,
      128,
      -33,
      -129,
      65536,
      -40000,
      2 ** 31,
      -(2 ** 31) - 5,
      2 ** 40 + 3,
      -(2 ** 40) - 3,
      0.5,
      1e300,
      '',
      'op',
      'héllo 🌍',
      'x'.repeat(40),
      true,
      false,
      null,
    ];
    const gen = (d: number): unknown => {
      const r = rnd();
      if (d > 3 || r < 0.35) return atoms[Math.floor(rnd() * atoms.length)];
      if (r < 0.45) return new Uint8Array(Math.floor(rnd() * 40)).fill(7);
      if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 18) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 18) }, (_, i) => [`${atoms[Math.floor(rnd() * 17)]}${i}`, gen(d + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(library.encode(gen(0)));
      expect(unpack(bytes)).toEqual(libraryDecoder.decode(bytes));
      const cut = bytes.subarray(0, Math.floor(rnd() * bytes.length));
      expect(() => unpack(cut)).toThrow();
      expect(() => libraryDecoder.decode(cut)).toThrow();
    }
  });

  it('reads bin as a view of the input, dates through the library, and refuses a __proto__ key and trailing bytes', () => {
    const bytes = Buffer.from(library.encode({ b: Buffer.from('abc') }));
    const bin = unpack<{ b: Uint8Array }>(bytes).b;
    expect(Buffer.isBuffer(bin) && bin.buffer === bytes.buffer).toBe(true);
    expect(unpack(library.encode({ when: new Date(5) }))).toEqual({ when: new Date(5) });
    expect(() => unpack(Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 1]))).toThrow();
    expect(() => unpack(Buffer.from([0x01, 0x02]))).toThrow();
  });

  it("reads malformed UTF-8 as the library does (a lone surrogate's 3-byte form comes back as the surrogate)", () => {
    for (const text of ['a\ud800', '\udc00b', 'é\ud83d'.repeat(40), 'ü'.repeat(150) + '\ud800']) {
      const bytes = Buffer.from(library.encode({ id: text }));
      expect(unpack(bytes)).toEqual(libraryDecoder.decode(bytes));
    }
    const raw = Buffer.from([0x91, 0xa3, 0xed, 0xa0, 0x80]);
    expect(unpack(raw)).toEqual(libraryDecoder.decode(raw));
    expect(unpack<string[]>(raw)[0]).toBe('\ud800');
  });
});
