/**
 * A live notification as one ready WebSocket message: the frame header (binary, final, unmasked: server to
 * client) and the msgpack bytes of `{op: 'notification', notification}`, written by hand into one buffer. The live
 * path sends one message per notification; ws's framing per send and msgpack's generic encoder (key counting, type
 * dispatch) were ~10 % of the gateway's CPU. Covers the flat shape of a Notification (strings, numbers, booleans,
 * null, arrays of those); anything else is encoded by the generic encoder and framed with a copy. Decodes to what
 * the generic encoder's bytes decode to (undefined fields left out, integers as msgpack ints, others as float64).
 */
import type WebSocket from 'ws';

// fixmap(2) "op" "notification" "notification"
const PREFIX = Buffer.from([0x82, 0xa2, ...Buffer.from('op'), 0xac, ...Buffer.from('notification'), 0xac, ...Buffer.from('notification')]);

/** Frames are written straight into a slab and handed out as slices of it (no copy), as Node's Buffer pool does. */
const SLAB = 64 * 1024;
/** The longest header of a server frame: 2 bytes, 2 more for 126–65535 bytes, 8 more past that. */
const MAX_HEADER = 10;
let buf = Buffer.allocUnsafe(SLAB);
/** Where the frame being written starts in `buf`, and the write position. */
let start = 0;
let pos = 0;

/** The whole WebSocket message (header + msgpack), or undefined for a shape this writer does not cover. */
export function packNotificationFrame(notification: object): Buffer | undefined {
  const n = notification as Record<string, unknown>;
  if (buf.length - start < 1024) newSlab(SLAB);
  // Room for the longest header; the header is written once the payload's length is known.
  pos = start + MAX_HEADER;
  for (let i = 0; i < PREFIX.length; i++) buf[pos++] = PREFIX[i];
  let count = 0;
  for (const key in n) if (n[key] !== undefined) count++;
  mapHeader(count);
  for (const key in n) {
    const value = n[key];
    if (value === undefined) continue;
    str(key);
    if (!any(value, true)) return undefined;
  }
  const from = writeHeader(buf, start + MAX_HEADER, pos - start - MAX_HEADER);
  const out = buf.subarray(from, pos);
  // The next frame starts 8-aligned after this one.
  start = (pos + 7) & ~7;
  return out;
}

/** The payload of `packNotificationFrame`'s message (for a socket that cannot take a ready message). */
export function payloadOf(message: Buffer): Buffer {
  const length = message[1] & 0x7f;
  return message.subarray(length === 127 ? 10 : length === 126 ? 4 : 2);
}

/** `payload` as one binary WebSocket message (a copy): for frames the generic encoder wrote. */
export function frameBinary(payload: Uint8Array): Buffer {
  const message = Buffer.allocUnsafe(MAX_HEADER + payload.length);
  const from = writeHeader(message, MAX_HEADER, payload.length);
  message.set(payload, MAX_HEADER);
  return message.subarray(from);
}

/** Writes the header of a final binary unmasked frame of `length` bytes so that it ends at `end`; answers where it starts. */
function writeHeader(target: Buffer, end: number, length: number): number {
  if (length < 126) {
    target[end - 2] = 0x82;
    target[end - 1] = length;
    return end - 2;
  }
  if (length < 0x10000) {
    target[end - 4] = 0x82;
    target[end - 3] = 126;
    target.writeUInt16BE(length, end - 2);
    return end - 4;
  }
  target[end - 10] = 0x82;
  target[end - 9] = 127;
  target.writeUInt32BE(Math.floor(length / 0x100000000), end - 8);
  target.writeUInt32BE(length >>> 0, end - 4);
  return end - 10;
}

function newSlab(size: number): void {
  buf = Buffer.allocUnsafe(size);
  start = pos = 0;
}

/** Room for `more` bytes; a frame that outgrows the slab moves, whole, to a bigger new one. */
function ensure(more: number): void {
  if (pos + more <= buf.length) return;
  const old = buf;
  const from = start;
  const length = pos - start;
  newSlab(Math.max(SLAB, (length + more) * 2));
  old.copy(buf, 0, from, from + length);
  pos = length;
}

function mapHeader(count: number): void {
  if (count < 16) buf[pos++] = 0x80 | count;
  else {
    buf[pos++] = 0xde;
    buf.writeUInt16BE(count, pos);
    pos += 2;
  }
}

/** Writes one value; false for a shape this writer does not cover (an object, a nested array, a bigint...). */
function any(value: unknown, arrays: boolean): boolean {
  switch (typeof value) {
    case 'string':
      str(value);
      return true;
    case 'number':
      num(value);
      return true;
    case 'boolean':
      ensure(1);
      buf[pos++] = value ? 0xc3 : 0xc2;
      return true;
    case 'undefined':
      // Inside an array (the generic encoder writes nil there too).
      ensure(1);
      buf[pos++] = 0xc0;
      return true;
    case 'object': {
      if (value === null) {
        ensure(1);
        buf[pos++] = 0xc0;
        return true;
      }
      if (!arrays || !Array.isArray(value)) return false;
      const length = value.length;
      ensure(5);
      if (length < 16) buf[pos++] = 0x90 | length;
      else if (length < 0x10000) {
        buf[pos++] = 0xdc;
        buf.writeUInt16BE(length, pos);
        pos += 2;
      } else {
        buf[pos++] = 0xdd;
        buf.writeUInt32BE(length, pos);
        pos += 4;
      }
      for (let i = 0; i < length; i++) if (!any(value[i], false)) return false;
      return true;
    }
    default:
      return false;
  }
}

function num(v: number): void {
  ensure(9);
  if (Number.isSafeInteger(v)) {
    if (v >= 0) {
      if (v < 0x80) buf[pos++] = v;
      else if (v < 0x100) {
        buf[pos++] = 0xcc;
        buf[pos++] = v;
      } else if (v < 0x10000) {
        buf[pos++] = 0xcd;
        buf.writeUInt16BE(v, pos);
        pos += 2;
      } else if (v < 0x100000000) {
        buf[pos++] = 0xce;
        buf.writeUInt32BE(v, pos);
        pos += 4;
      } else {
        buf[pos++] = 0xcf;
        buf.writeUInt32BE(Math.floor(v / 0x100000000), pos);
        buf.writeUInt32BE(v >>> 0, pos + 4);
        pos += 8;
      }
      return;
    }
    if (v >= -0x20) buf[pos++] = v & 0xff;
    else if (v >= -0x80) {
      buf[pos++] = 0xd0;
      buf.writeInt8(v, pos++);
    } else if (v >= -0x8000) {
      buf[pos++] = 0xd1;
      buf.writeInt16BE(v, pos);
      pos += 2;
    } else if (v >= -0x80000000) {
      buf[pos++] = 0xd2;
      buf.writeInt32BE(v, pos);
      pos += 4;
    } else {
      buf[pos++] = 0xd3;
      buf.writeBigInt64BE(BigInt(v), pos);
      pos += 8;
    }
    return;
  }
  buf[pos++] = 0xcb;
  buf.writeDoubleBE(v, pos);
  pos += 8;
}

function str(s: string): void {
  const length = s.length;
  ensure(5 + length * 3);
  // Short ASCII (ids, types, user ids): byte by byte, no native call.
  if (length < 32) {
    const start = pos;
    buf[pos++] = 0xa0 | length;
    let i = 0;
    for (; i < length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos++] = c;
    }
    if (i === length) return;
    pos = start;
  }
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes < 32) buf[pos++] = 0xa0 | bytes;
  else if (bytes < 0x100) {
    buf[pos++] = 0xd9;
    buf[pos++] = bytes;
  } else if (bytes < 0x10000) {
    buf[pos++] = 0xda;
    buf.writeUInt16BE(bytes, pos);
    pos += 2;
  } else {
    buf[pos++] = 0xdb;
    buf.writeUInt32BE(bytes, pos);
    pos += 4;
  }
  pos += buf.write(s, pos, bytes, 'utf8');
}

/** The parts of a ws 8 WebSocket that `sendMessage` reads (not in its typings). */
interface WsInternals {
  _socket?: { write(chunk: Buffer): boolean };
  _sender?: { _state: number; _firstFragment: boolean; _queue: unknown[] };
}

/**
 * Sends a ready message (`packNotificationFrame`, `frameBinary`) on `ws`: straight to its socket while ws's sender
 * is idle (nothing queued, no message half sent: ws writes each message whole, so ours cannot interleave with
 * one), else through `ws.send` with the payload. The caller checked that `ws` is open.
 */
export function sendMessage(ws: WebSocket, message: Buffer): void {
  const { _socket: socket, _sender: sender } = ws as unknown as WsInternals;
  if (socket && sender && sender._state === 0 && sender._firstFragment && sender._queue.length === 0) socket.write(message);
  else ws.send(payloadOf(message));
}
