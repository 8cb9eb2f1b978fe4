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

export function unpack<T>(bytes: Uint8Array): T {
  return decoder.decode(bytes) as T;
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
