import { Decoder, Encoder } from '@msgpack/msgpack';

// One encoder and one decoder for the process: a new one per call allocates its buffers each time. Safe to
// share: encode copies its result out, and neither call awaits.
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/**
 * Values in LevelDB and payloads between processes are msgpack: compact, and types survive (unlike JSON). Plain
 * values (numbers, strings, booleans, null, arrays, plain objects, byte arrays) are written by `PlainWriter`,
 * byte for byte what @msgpack/msgpack writes but without its per-value dispatch; anything else goes to the
 * library. The bytes are copied into a Buffer, which for small values comes from Node's pool: one ArrayBuffer per
 * ~8 KiB of values instead of one per value (a node packs several values per event).
 */
export function pack(value: unknown): Uint8Array {
  const src = packShared(value);
  const out = Buffer.allocUnsafe(src.length);
  out.set(src);
  return out;
}

/**
 * Like pack, without the copy: the bytes are a view of a shared buffer, valid only until the next pack. For
 * callers that copy them at once (a link frame is written into its own Buffer).
 */
export function packShared(value: unknown): Uint8Array {
  const len = writer.write(value);
  return len < 0 ? encoder.encodeSharedRef(value) : writer.bytes.subarray(0, len);
}

/**
 * Values and payloads back from msgpack. `PlainReader` reads what the library reads, to the same values (maps as
 * plain objects, bin as a view of `bytes`, 64-bit integers as numbers), without its per-byte state machine; an
 * extension type (a date) or deep nesting goes to the library, which also reports what is malformed.
 */
export function unpack<T>(bytes: Uint8Array): T {
  const value = reader.read(bytes);
  return (value === FALLBACK ? decoder.decode(bytes) : value) as T;
}

/** Nesting past this goes to the library (which has its own limit and error). */
const MAX_DEPTH = 32;

/**
 * A msgpack writer for plain values into one reused buffer. `write` returns the length written, or -1 when the
 * value holds anything it does not handle (the caller then uses the library). Maps skip undefined values, as the
 * library does with `ignoreUndefined`; integers take the smallest format, other numbers float64, as it does.
 */
class PlainWriter {
  bytes = Buffer.allocUnsafe(4096);
  private view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  private pos = 0;

  write(value: unknown): number {
    this.pos = 0;
    return this.value(value, 0) ? this.pos : -1;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.bytes.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.pos + n));
    next.set(this.bytes.subarray(0, this.pos));
    this.bytes = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  private value(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return true;
      case 'number':
        this.number(v);
        return true;
      case 'boolean':
        this.ensure(1);
        this.bytes[this.pos++] = v ? 0xc3 : 0xc2;
        return true;
      case 'object':
        if (v === null) {
          this.ensure(1);
          this.bytes[this.pos++] = 0xc0;
          return true;
        }
        if (depth >= MAX_DEPTH) return false;
        if (Array.isArray(v)) return this.array(v, depth + 1);
        if (v instanceof Uint8Array) return this.bin(v);
        if (Object.getPrototypeOf(v) !== Object.prototype) return false;
        return this.map(v as Record<string, unknown>, depth + 1);
      case 'undefined':
        // In an array (a map skips it): nil, as the library writes it.
        this.ensure(1);
        this.bytes[this.pos++] = 0xc0;
        return true;
      default:
        return false;
    }
  }

  private number(n: number): void {
    this.ensure(9);
    const b = this.bytes;
    if (Number.isSafeInteger(n)) {
      if (n >= 0) {
        if (n < 0x80) b[this.pos++] = n;
        else if (n < 0x100) {
          b[this.pos++] = 0xcc;
          b[this.pos++] = n;
        } else if (n < 0x10000) {
          b[this.pos++] = 0xcd;
          this.view.setUint16(this.pos, n);
          this.pos += 2;
        } else if (n < 0x100000000) {
          b[this.pos++] = 0xce;
          this.view.setUint32(this.pos, n);
          this.pos += 4;
        } else {
          b[this.pos++] = 0xcf;
          this.view.setUint32(this.pos, Math.floor(n / 0x100000000));
          this.view.setUint32(this.pos + 4, n >>> 0);
          this.pos += 8;
        }
      } else if (n >= -0x20) b[this.pos++] = 0xe0 | (n + 0x20);
      else if (n >= -0x80) {
        b[this.pos++] = 0xd0;
        this.view.setInt8(this.pos++, n);
      } else if (n >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, n);
        this.pos += 2;
      } else if (n >= -0x80000000) {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, n);
        this.pos += 4;
      } else {
        b[this.pos++] = 0xd3;
        this.view.setBigInt64(this.pos, BigInt(n));
        this.pos += 8;
      }
    } else {
      b[this.pos++] = 0xcb;
      this.view.setFloat64(this.pos, n);
      this.pos += 8;
    }
  }

  private string(s: string): void {
    const n = s.length;
    // At most 3 bytes per UTF-16 unit (a surrogate pair is 2 units, 4 bytes), plus the longest header.
    this.ensure(5 + 3 * n);
    const b = this.bytes;
    const start = this.pos;
    // Guess the header from the char count; ASCII (the usual case) needs no move afterwards.
    const headerLen = n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    let p = start + headerLen;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      b[p++] = c;
    }
    if (!ascii) p = start + headerLen + b.write(s, start + headerLen, 'utf8');
    const byteLength = p - start - headerLen;
    const needed = byteLength < 32 ? 1 : byteLength < 0x100 ? 2 : byteLength < 0x10000 ? 3 : 5;
    if (needed !== headerLen) {
      b.copyWithin(start + needed, start + headerLen, p);
      p += needed - headerLen;
    }
    this.pos = start;
    if (byteLength < 32) b[this.pos++] = 0xa0 + byteLength;
    else this.length(byteLength, 0xd9, 0xda, 0xdb);
    this.pos = p;
  }

  /** An array's or map's header: the count in its fix form under 16, else after a 16- or 32-bit type byte. */
  private header(n: number, fix: number, x16: number, x32: number): void {
    this.ensure(5);
    if (n < 16) this.bytes[this.pos++] = fix + n;
    else this.length(n, 0, x16, x32);
  }

  /** A type byte and a length in the smallest form it has (`x8` 0: none of 8 bits). The caller ensured 5 bytes. */
  private length(n: number, x8: number, x16: number, x32: number): void {
    if (x8 && n < 0x100) {
      this.bytes[this.pos++] = x8;
      this.bytes[this.pos++] = n;
    } else if (n < 0x10000) {
      this.bytes[this.pos++] = x16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.bytes[this.pos++] = x32;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  private array(a: unknown[], depth: number): boolean {
    this.header(a.length, 0x90, 0xdc, 0xdd);
    for (let i = 0; i < a.length; i++) if (!this.value(a[i], depth)) return false;
    return true;
  }

  private map(o: Record<string, unknown>, depth: number): boolean {
    let n = 0;
    for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined) n++;
    this.header(n, 0x80, 0xde, 0xdf);
    for (const k in o) {
      if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
      const v = o[k];
      if (v === undefined) continue;
      this.string(k);
      if (!this.value(v, depth)) return false;
    }
    return true;
  }

  private bin(v: Uint8Array): boolean {
    const n = v.byteLength;
    this.ensure(5 + n);
    this.length(n, 0xc4, 0xc5, 0xc6);
    this.bytes.set(v, this.pos);
    this.pos += n;
    return true;
  }
}

const writer = new PlainWriter();

/** `PlainReader.read`'s answer for bytes it leaves to the library. */
const FALLBACK = Symbol('fallback');
/** Map keys this long or shorter are looked up in the key cache (field names: a few distinct ones, read over and over). */
const KEY_CACHE_MAX = 16;
const KEY_CACHE_SLOTS = 1024;

/**
 * A msgpack reader for plain values: nil, booleans, numbers, str, bin, arrays and maps with string or number keys.
 * Strings are read from the bytes (ASCII without a call into the runtime); short map keys come from a small cache,
 * so a frame of 100 events does not make 700 copies of the same 8 field names. Anything else, and any malformed
 * input, makes it answer FALLBACK: the library decodes it, or throws its own error.
 */
class PlainReader {
  private bytes: Uint8Array = EMPTY;
  private pos = 0;
  private end = 0;
  /** Short keys by a hash of their bytes (a slot holds the last key that hashed there). */
  private readonly keys: Array<string | undefined> = new Array<string | undefined>(KEY_CACHE_SLOTS).fill(undefined);

  read(bytes: Uint8Array): unknown {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.length;
    try {
      const value = this.value(0);
      return this.pos === this.end ? value : FALLBACK;
    } catch (err) {
      if (err === FALLBACK) return FALLBACK;
      throw err;
    } finally {
      this.bytes = EMPTY; // not kept alive by the reader
    }
  }

  /** Throws FALLBACK unless `n` more bytes are there. */
  private need(n: number): void {
    if (this.pos + n > this.end) throw FALLBACK;
  }

  private value(depth: number): unknown {
    this.need(1);
    const b = this.bytes;
    const t = b[this.pos++];
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0xa0 && t < 0xc0) return this.str(t - 0xa0);
    if (t < 0x90) return this.map(t - 0x80, depth);
    if (t < 0xa0) return this.array(t - 0x90, depth);
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xcc:
        return this.uint(1);
      case 0xcd:
        return this.uint(2);
      case 0xce:
        return this.uint(4);
      case 0xcf:
        // As the library without BigInt: high × 2^32 + low (exact up to 2^53).
        return this.uint(4) * 0x100000000 + this.uint(4);
      case 0xd0:
        return (this.uint(1) << 24) >> 24;
      case 0xd1:
        return (this.uint(2) << 16) >> 16;
      case 0xd2:
        return this.uint(4) | 0;
      case 0xd3:
        return (this.uint(4) | 0) * 0x100000000 + this.uint(4);
      case 0xca:
        return this.float(4);
      case 0xcb:
        return this.float(8);
      case 0xd9:
        return this.str(this.uint(1));
      case 0xda:
        return this.str(this.uint(2));
      case 0xdb:
        return this.str(this.uint(4));
      case 0xc4:
        return this.bin(this.uint(1));
      case 0xc5:
        return this.bin(this.uint(2));
      case 0xc6:
        return this.bin(this.uint(4));
      case 0xdc:
        return this.array(this.uint(2), depth);
      case 0xdd:
        return this.array(this.uint(4), depth);
      case 0xde:
        return this.map(this.uint(2), depth);
      case 0xdf:
        return this.map(this.uint(4), depth);
      default:
        // Extension types, and 0xc1 (never used).
        throw FALLBACK;
    }
  }

  /** A big-endian unsigned integer of `n` (1, 2 or 4) bytes. */
  private uint(n: number): number {
    this.need(n);
    const b = this.bytes;
    const p = this.pos;
    this.pos += n;
    if (n === 1) return b[p];
    if (n === 2) return (b[p] << 8) | b[p + 1];
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  /** A big-endian float of `n` (4 or 8) bytes, through a scratch buffer in the platform's byte order. */
  private float(n: number): number {
    this.need(n);
    const b = this.bytes;
    const p = this.pos;
    this.pos += n;
    for (let i = 0; i < n; i++) scratch[LITTLE_ENDIAN ? n - 1 - i : i] = b[p + i];
    return n === 4 ? scratch32[0] : scratch64[0];
  }

  private str(n: number): string {
    this.need(n);
    const b = this.bytes;
    const start = this.pos;
    const end = (this.pos = start + n);
    // ASCII reads the same with any decoder; anything else as the library reads it (a lone surrogate's 3-byte
    // form comes back as that surrogate, which validation then refuses, unlike a decoder that replaces it).
    for (let i = start; i < end; i++)
      if (b[i] >= 0x80) return n > LIBRARY_TEXT_DECODER_MIN ? textDecoder.decode(b.subarray(start, end)) : lenientUtf8(b, start, end);
    return latin1Slice.call(b, start, end);
  }

  private bin(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  private array(n: number, depth: number): unknown[] {
    // Every element takes a byte at least: a count past the bytes left is malformed (no huge allocation for it).
    if (depth >= MAX_DEPTH || n > this.end - this.pos) throw FALLBACK;
    const a = new Array<unknown>(n);
    for (let i = 0; i < n; i++) a[i] = this.value(depth + 1);
    return a;
  }

  private map(n: number, depth: number): Record<string, unknown> {
    if (depth >= MAX_DEPTH || 2 * n > this.end - this.pos) throw FALLBACK;
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const key = this.key();
      // As the library: no key that would set the prototype.
      if (key === '__proto__') throw FALLBACK;
      o[key] = this.value(depth + 1);
    }
    return o;
  }

  /** A map key: a short ASCII string from the cache, or any string or number (the library takes only those). */
  private key(): string | number {
    this.need(1);
    const b = this.bytes;
    const t = b[this.pos];
    const n = t - 0xa0;
    if (n >= 0 && n <= KEY_CACHE_MAX && this.pos + 1 + n <= this.end) {
      const start = this.pos + 1;
      let h = n;
      let ascii = true;
      for (let i = start; i < start + n; i++) {
        const c = b[i];
        if (c >= 0x80) ascii = false;
        h = (h * 31 + c) & (KEY_CACHE_SLOTS - 1);
      }
      if (ascii) {
        const hit = this.keys[h];
        let same = hit !== undefined && hit.length === n;
        for (let i = 0; same && i < n; i++) if (hit!.charCodeAt(i) !== b[start + i]) same = false;
        this.pos = start + n;
        if (same) return hit!;
        const key = latin1Slice.call(b, start, start + n);
        this.keys[h] = key;
        return key;
      }
    }
    const key = this.value(0);
    if (typeof key !== 'string' && typeof key !== 'number') throw FALLBACK;
    return key;
  }
}

/** Node's native Latin-1 slice (for ASCII bytes), callable on any Uint8Array: one call, no copy. */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;
/** Past this many bytes the library decodes a string with TextDecoder, below with its own lenient decoder. */
const LIBRARY_TEXT_DECODER_MIN = 200;
const textDecoder = new TextDecoder();

/** @msgpack/msgpack's `utf8DecodeJs`, step for step (its reads of malformed sequences included). */
function lenientUtf8(bytes: Uint8Array, start: number, end: number): string {
  let offset = start;
  const units: number[] = [];
  while (offset < end) {
    const byte1 = bytes[offset++];
    if ((byte1 & 0x80) === 0) units.push(byte1);
    else if ((byte1 & 0xe0) === 0xc0) {
      const byte2 = bytes[offset++] & 0x3f;
      units.push(((byte1 & 0x1f) << 6) | byte2);
    } else if ((byte1 & 0xf0) === 0xe0) {
      const byte2 = bytes[offset++] & 0x3f;
      const byte3 = bytes[offset++] & 0x3f;
      units.push(((byte1 & 0x1f) << 12) | (byte2 << 6) | byte3);
    } else if ((byte1 & 0xf8) === 0xf0) {
      const byte2 = bytes[offset++] & 0x3f;
      const byte3 = bytes[offset++] & 0x3f;
      const byte4 = bytes[offset++] & 0x3f;
      let unit = ((byte1 & 0x07) << 0x12) | (byte2 << 0x0c) | (byte3 << 0x06) | byte4;
      if (unit > 0xffff) {
        unit -= 0x10000;
        units.push(((unit >>> 10) & 0x3ff) | 0xd800);
        unit = 0xdc00 | (unit & 0x3ff);
      }
      units.push(unit);
    } else units.push(byte1);
  }
  return String.fromCharCode(...units);
}
const EMPTY = new Uint8Array(0);
const scratch = new Uint8Array(8);
const scratch32 = new Float32Array(scratch.buffer, 0, 1);
const scratch64 = new Float64Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const reader = new PlainReader();
