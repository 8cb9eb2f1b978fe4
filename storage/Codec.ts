import { Decoder, Encoder } from '@msgpack/msgpack';

// One encoder and one decoder for the process: a new one per call allocates its buffers each time. Safe to
// share: encode copies its result out, and neither call awaits.
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/**
 * Values in LevelDB and payloads between processes are msgpack: compact, and types survive (unlike JSON). The
 * bytes are copied out of the shared encoder into a Buffer, which for small values comes from Node's pool: one
 * ArrayBuffer per ~8 KiB of values instead of one per value (the node packs several values per event).
 */
export function pack(value: unknown): Uint8Array {
  const shared = encoder.encodeSharedRef(value);
  const out = Buffer.allocUnsafe(shared.length);
  out.set(shared);
  return out;
}

/**
 * Like pack, without the copy: the bytes are a view of the shared encoder's buffer, valid only until the next
 * pack. For callers that copy them at once (a link frame is written into its own Buffer).
 */
export function packShared(value: unknown): Uint8Array {
  return encoder.encodeSharedRef(value);
}

export function unpack<T>(bytes: Uint8Array): T {
  return decoder.decode(bytes) as T;
}
