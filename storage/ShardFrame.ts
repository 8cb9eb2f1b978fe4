/**
 * A part of a shard in transit, as one buffer: per row a u32 key length, the key (UTF-8), a u32 value length
 * (DELETED for a key the sender no longer has) and the value bytes. One binary field on any transport, no
 * per-row msgpack; keys are strings at both ends because LevelDB's utf8 keys are its cheapest to read and write
 * (bench: ~2× cheaper than Buffer keys, which go through per-op encodings).
 */
const DELETED = 0xffffffff;

/** A row: key, and value bytes, or undefined for a deletion. */
export type FrameRow = [string, Uint8Array | undefined];

export function encodeFrame(rows: readonly FrameRow[]): Buffer {
  let size = 0;
  for (const [k, v] of rows) size += 8 + Buffer.byteLength(k) + (v ? v.byteLength : 0);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [k, v] of rows) {
    const kl = out.write(k, at + 4, 'utf8');
    out.writeUInt32LE(kl, at);
    at += 4 + kl;
    out.writeUInt32LE(v ? v.byteLength : DELETED, at);
    at += 4;
    if (v) {
      out.set(v, at);
      at += v.byteLength;
    }
  }
  return out;
}

/** The rows of a frame; values are views into it (not copied). Throws on a truncated frame. */
export function decodeFrame(frame: Uint8Array): FrameRow[] {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const rows: FrameRow[] = [];
  for (let at = 0; at < buf.length;) {
    const kl = buf.readUInt32LE(at);
    if (at + 8 + kl > buf.length) throw new RangeError('truncated shard frame');
    const key = buf.toString('utf8', at + 4, at + 4 + kl);
    at += 4 + kl;
    const vl = buf.readUInt32LE(at);
    at += 4;
    if (vl === DELETED) rows.push([key, undefined]);
    else {
      if (at + vl > buf.length) throw new RangeError('truncated shard frame');
      rows.push([key, buf.subarray(at, at + vl)]);
      at += vl;
    }
  }
  return rows;
}
