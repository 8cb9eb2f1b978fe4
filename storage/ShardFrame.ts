/**
 * A part of a shard in transit, as one buffer: per row a u32 key length, the key bytes, a u32 value length
 * (DELETED for a key the sender no longer has) and the value bytes. Keys and values stay bytes end to end (no
 * string decoding, no per-row msgpack), and the buffer crosses any transport as a single binary field.
 */
const DELETED = 0xffffffff;

/** A row: key bytes, and value bytes, or undefined for a deletion. */
export type FrameRow = [Uint8Array, Uint8Array | undefined];

export function encodeFrame(rows: readonly FrameRow[]): Buffer {
  let size = 0;
  for (const [k, v] of rows) size += 8 + k.byteLength + (v ? v.byteLength : 0);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [k, v] of rows) {
    out.writeUInt32LE(k.byteLength, at);
    out.set(k, at + 4);
    at += 4 + k.byteLength;
    out.writeUInt32LE(v ? v.byteLength : DELETED, at);
    at += 4;
    if (v) {
      out.set(v, at);
      at += v.byteLength;
    }
  }
  return out;
}

/** The rows of a frame, as views into it (nothing is copied). Throws on a truncated frame. */
export function decodeFrame(frame: Uint8Array): FrameRow[] {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const rows: FrameRow[] = [];
  for (let at = 0; at < buf.length; ) {
    const kl = buf.readUInt32LE(at);
    const key = buf.subarray(at + 4, at + 4 + kl);
    at += 4 + kl;
    const vl = buf.readUInt32LE(at);
    at += 4;
    if (vl === DELETED) rows.push([key, undefined]);
    else {
      if (at + vl > buf.length) throw new RangeError('truncated shard frame');
      rows.push([key, buf.subarray(at, at + vl)]);
      at += vl;
    }
    if (key.length !== kl) throw new RangeError('truncated shard frame');
  }
  return rows;
}
