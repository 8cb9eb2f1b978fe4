import { decode, encode } from '@msgpack/msgpack';

/** Binary frames are msgpack, text frames JSON, same shapes (docs/protocol.md). */
export type WireFormat = 'json' | 'msgpack';

/** A frame to send: JSON text, or msgpack bytes with `undefined` fields left out (the server's schemas refuse nulls). */
export function encodeFrame(msg: object, format: WireFormat): string | Uint8Array {
  return format === 'msgpack' ? encode(msg, { ignoreUndefined: true }) : JSON.stringify(msg);
}

/** A received frame, whatever its format: text is JSON, binary (ArrayBuffer or a byte view) is msgpack. */
export function decodeFrame(data: unknown): unknown {
  if (typeof data === 'string') return JSON.parse(data);
  if (data instanceof ArrayBuffer) return decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  throw new TypeError(`unexpected frame type ${Object.prototype.toString.call(data)} (binaryType must be 'arraybuffer')`);
}
