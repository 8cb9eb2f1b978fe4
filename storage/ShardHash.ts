import { hash } from 'node:crypto';

/**
 * The first 4 bytes of md5(user), big-endian: the hash behind `shardOf`. A user id is short ASCII, one md5 block,
 * which this computes in JavaScript with no allocation (~10x cheaper than a call into OpenSSL with its Buffer: it
 * runs once per follower of every fanout page and per user of every event). Anything else goes to node:crypto.
 * Same result either way: the user → shard map is on disk in every key and must never change.
 */
export function md5Head(user: string): number {
  const n = user.length;
  if (n > 55) return cryptoHead(user);
  const m = block;
  m.fill(0);
  for (let i = 0; i < n; i++) {
    const c = user.charCodeAt(i);
    if (c > 0x7f) return cryptoHead(user);
    m[i >> 2] |= c << ((i & 3) << 3);
  }
  m[n >> 2] |= 0x80 << ((n & 3) << 3);
  m[14] = n << 3;
  let a = A0;
  let b = B0;
  let c = C0;
  let d = D0;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const x = (a + f + K[i] + m[g]) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((x << S[i]) | (x >>> (32 - S[i])))) | 0;
  }
  const h = (A0 + a) | 0;
  // The digest starts with h little-endian; its first 4 bytes read big-endian are h byte-swapped.
  return (((h & 0xff) << 24) | (((h >>> 8) & 0xff) << 16) | (((h >>> 16) & 0xff) << 8) | (h >>> 24)) >>> 0;
}

function cryptoHead(user: string): number {
  return hash('md5', user, 'buffer').readUInt32BE(0);
}

const A0 = 0x67452301;
const B0 = 0xefcdab89 | 0;
const C0 = 0x98badcfe | 0;
const D0 = 0x10325476;
/** Rotation of each step: four per round, repeated four times. */
const S = Int32Array.from(
  [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
  ].flatMap((r) => [...r, ...r, ...r, ...r]),
);
const K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
/** The message block, 16 little-endian words. */
const block = new Int32Array(16);
