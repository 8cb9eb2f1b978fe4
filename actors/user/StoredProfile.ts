import type { ProfileOptions } from '../../core/config';
import { entityMatches } from './InterestProfile';

/**
 * The decision inputs of personalized fanout read straight from a stored interest profile (the msgpack bytes of
 * `ProfileData` at `<shard>!P!<user>`), without building the profile: a fanout decides for a million followers,
 * and decoding each profile into arrays, strings and an `InterestProfile` was most of its cost and garbage.
 * One reader serves one tweet; `read` reuses its fields for every follower.
 */
export class StoredProfileReader {
  /** 1-based rank of the author among the Top-N followings (0 = absent) after `read`. */
  rank = 0;
  /** Length of the Top-N list after `read`. */
  topLength = 0;
  /** Bit i set: the tweet's entity i (of `entities`) matches (`entityMatches`: inside the window, score held). */
  matched = 0;
  /** The tweet's entities, lower-cased and deduplicated, in their order: what `matched` indexes. */
  readonly entities: readonly string[];
  private readonly author: Uint8Array;
  private readonly entityBytes: Uint8Array[];
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;

  constructor(
    author: string,
    entities: readonly string[],
    private readonly opts: ProfileOptions,
  ) {
    this.author = Buffer.from(author, 'utf8');
    this.entities = [...new Set(entities.map((e) => e.toLowerCase()))];
    this.entityBytes = this.entities.map((e) => Buffer.from(e, 'utf8'));
  }

  /** Whether `read` can answer for this tweet (the match mask holds 31 entities; the schema allows 50). */
  get usable(): boolean {
    return this.entities.length <= 31;
  }

  /**
   * Reads `rank`, `topLength` and `matched` (the entities that match at `now`) from the stored bytes. False when
   * the bytes are not a profile as `InterestProfile` writes it: decode them instead.
   */
  read(bytes: Uint8Array, now: number): boolean {
    this.buf = bytes;
    this.pos = 0;
    this.rank = 0;
    this.topLength = 0;
    this.matched = 0;
    try {
      const fields = this.mapHeader();
      for (let i = 0; i < fields; i++) {
        const keyLen = this.strHeader();
        const key = keyLen === 3 ? this.keyName() : 0;
        if (keyLen < 0) return false;
        if (key === 0) {
          this.pos += keyLen;
          this.skip();
        } else if (key === TOP) {
          if (!this.readTop()) return false;
        } else if (!this.readEntities(now)) return false;
      }
      return this.pos === bytes.length;
    } catch {
      // Out of bounds: truncated or foreign bytes.
      return false;
    }
  }

  private readTop(): boolean {
    const n = this.arrayHeader();
    if (n < 0) return false;
    this.topLength = n;
    for (let i = 0; i < n; i++) {
      if (this.arrayHeader() !== 3) return false;
      const len = this.strHeader();
      if (len < 0) return false;
      if (this.rank === 0 && this.equals(this.author, len)) this.rank = i + 1;
      this.pos += len;
      this.skip();
      this.skip();
    }
    return true;
  }

  private readEntities(now: number): boolean {
    const n = this.arrayHeader();
    if (n < 0) return false;
    for (let i = 0; i < n; i++) {
      if (this.arrayHeader() !== 3) return false;
      const len = this.strHeader();
      if (len < 0) return false;
      let hit = -1;
      for (let e = 0; e < this.entityBytes.length; e++) {
        if (this.equals(this.entityBytes[e], len)) {
          hit = e;
          break;
        }
      }
      this.pos += len;
      if (hit < 0) {
        this.skip();
        this.skip();
        continue;
      }
      // Only the tweet's entities are weighed: the others are skipped as before.
      const v = this.number();
      const t = this.number();
      if (Number.isNaN(v) || Number.isNaN(t)) return false;
      if (entityMatches(v, t, now, this.opts)) this.matched |= 1 << hit;
    }
    return true;
  }

  /** TOP or ENT for the 3-byte keys at `pos` (advancing past them), else 0 (left in place). */
  private keyName(): number {
    const b = this.buf;
    const p = this.pos;
    if (b[p] === 0x74 && b[p + 1] === 0x6f && b[p + 2] === 0x70) {
      this.pos += 3;
      return TOP;
    }
    if (b[p] === 0x65 && b[p + 1] === 0x6e && b[p + 2] === 0x74) {
      this.pos += 3;
      return ENT;
    }
    return 0;
  }

  private equals(target: Uint8Array, len: number): boolean {
    if (target.length !== len) return false;
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < len; i++) if (b[p + i] !== target[i]) return false;
    return true;
  }

  private mapHeader(): number {
    const b = this.buf[this.pos++];
    if (b >= 0x80 && b <= 0x8f) return b & 0x0f;
    if (b === 0xde) return this.u16();
    if (b === 0xdf) return this.u32();
    throw new RangeError('not a map');
  }

  /** Element count of an array header at `pos`, or -1 if something else is there. */
  private arrayHeader(): number {
    const b = this.buf[this.pos++];
    if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
    if (b === 0xdc) return this.u16();
    if (b === 0xdd) return this.u32();
    return -1;
  }

  /** Byte length of a string header at `pos` (the bytes follow), or -1 if something else is there. */
  private strHeader(): number {
    const b = this.buf[this.pos++];
    if (b >= 0xa0 && b <= 0xbf) return b & 0x1f;
    if (b === 0xd9) return this.buf[this.pos++];
    if (b === 0xda) return this.u16();
    if (b === 0xdb) return this.u32();
    return -1;
  }

  /** A number at `pos` (any msgpack int or float), or NaN. */
  private number(): number {
    const b = this.buf[this.pos++];
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    const width = NUMBER_WIDTH[b];
    if (width === 0) return NaN;
    const p = this.pos;
    if (p + width > this.buf.length) throw new RangeError('truncated');
    this.pos += width;
    // Copied into a scratch view: no DataView per profile.
    for (let i = 0; i < width; i++) scratch[i] = this.buf[p + i];
    switch (b) {
      case 0xcc:
        return scratchView.getUint8(0);
      case 0xcd:
        return scratchView.getUint16(0);
      case 0xce:
        return scratchView.getUint32(0);
      case 0xcf:
        return scratchView.getUint32(0) * 2 ** 32 + scratchView.getUint32(4);
      case 0xd0:
        return scratchView.getInt8(0);
      case 0xd1:
        return scratchView.getInt16(0);
      case 0xd2:
        return scratchView.getInt32(0);
      case 0xd3:
        return scratchView.getInt32(0) * 2 ** 32 + scratchView.getUint32(4);
      case 0xca:
        return scratchView.getFloat32(0);
      default:
        return scratchView.getFloat64(0);
    }
  }

  /** Skips one value of any type. */
  private skip(): void {
    const b = this.buf[this.pos++];
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return;
    if (b >= 0xa0 && b <= 0xbf) return void (this.pos += b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return this.skipN(b & 0x0f);
    if (b >= 0x80 && b <= 0x8f) return this.skipN(2 * (b & 0x0f));
    switch (b) {
      case 0xcc:
      case 0xd0:
        this.pos += 1;
        return;
      case 0xcd:
      case 0xd1:
        this.pos += 2;
        return;
      case 0xce:
      case 0xd2:
      case 0xca:
        this.pos += 4;
        return;
      case 0xcf:
      case 0xd3:
      case 0xcb:
        this.pos += 8;
        return;
      case 0xd9:
      case 0xc4:
        this.pos += 1 + this.buf[this.pos];
        return;
      case 0xda:
      case 0xc5: {
        const n = this.u16();
        this.pos += n;
        return;
      }
      case 0xdb:
      case 0xc6: {
        const n = this.u32();
        this.pos += n;
        return;
      }
      case 0xdc:
        return this.skipN(this.u16());
      case 0xdd:
        return this.skipN(this.u32());
      case 0xde:
        return this.skipN(2 * this.u16());
      case 0xdf:
        return this.skipN(2 * this.u32());
      case 0xd4:
        this.pos += 2;
        return;
      case 0xd5:
        this.pos += 3;
        return;
      case 0xd6:
        this.pos += 5;
        return;
      case 0xd7:
        this.pos += 9;
        return;
      case 0xd8:
        this.pos += 17;
        return;
      case 0xc7:
        this.pos += 2 + this.buf[this.pos];
        return;
      case 0xc8: {
        const n = this.u16();
        this.pos += 1 + n;
        return;
      }
      case 0xc9: {
        const n = this.u32();
        this.pos += 1 + n;
        return;
      }
      default:
        throw new RangeError(`msgpack byte ${b}`);
    }
  }

  private skipN(n: number): void {
    for (let i = 0; i < n; i++) this.skip();
  }

  private u16(): number {
    const b = this.buf;
    const p = this.pos;
    if (p + 2 > b.length) throw new RangeError('truncated');
    this.pos += 2;
    return (b[p] << 8) | b[p + 1];
  }

  private u32(): number {
    const b = this.buf;
    const p = this.pos;
    if (p + 4 > b.length) throw new RangeError('truncated');
    this.pos += 4;
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }
}

const TOP = 1;
const ENT = 2;
/** Bytes after the type byte of each msgpack int and float. */
const NUMBER_WIDTH = new Uint8Array(256);
for (const [b, w] of [
  [0xcc, 1],
  [0xcd, 2],
  [0xce, 4],
  [0xcf, 8],
  [0xd0, 1],
  [0xd1, 2],
  [0xd2, 4],
  [0xd3, 8],
  [0xca, 4],
  [0xcb, 8],
])
  NUMBER_WIDTH[b] = w;
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);
