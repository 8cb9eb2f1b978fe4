import { decode, encode } from '@msgpack/msgpack';

/** Values in LevelDB and payloads between processes are msgpack: compact, and types survive (unlike JSON). */
export function pack(value: unknown): Uint8Array {
  return encode(value, { ignoreUndefined: true });
}

export function unpack<T>(bytes: Uint8Array): T {
  return decode(bytes) as T;
}
