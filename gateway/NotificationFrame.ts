/**
 * A live notification as one ready WebSocket message: the frame header (binary, final, unmasked: server to
 * client) and the msgpack payload in one buffer, sent straight to the socket when ws's sender is idle. The live
 * path sends one message per notification; ws's framing per send and msgpack's generic encoder were ~10 % of the
 * gateway's CPU. The payload comes from core/Codec's plain-value writer (the library's bytes, without its
 * per-value dispatch).
 */
import type WebSocket from 'ws';

/** The longest header of a server frame: 2 bytes, 2 more for 126–65535 bytes, 8 more past that. */
const MAX_HEADER = 10;

/** `payload` as one binary WebSocket message (header + a copy of the payload). */
export function frameBinary(payload: Uint8Array): Buffer {
  const message = Buffer.allocUnsafe(MAX_HEADER + payload.length);
  const from = writeHeader(message, MAX_HEADER, payload.length);
  message.set(payload, MAX_HEADER);
  return message.subarray(from);
}

/**
 * `prefix` then `payload` as one binary WebSocket message: a live notification whose msgpack bytes came from its
 * node is framed with its envelope's bytes before it, with no decode and encode in between.
 */
export function frameBinaryAfter(prefix: Uint8Array, payload: Uint8Array): Buffer {
  const length = prefix.length + payload.length;
  const message = Buffer.allocUnsafe(MAX_HEADER + length);
  const from = writeHeader(message, MAX_HEADER, length);
  message.set(prefix, MAX_HEADER);
  message.set(payload, MAX_HEADER + prefix.length);
  return message.subarray(from);
}

/** The payload of a `frameBinary` message (for a socket that cannot take a ready message). */
export function payloadOf(message: Buffer): Buffer {
  const length = message[1] & 0x7f;
  return message.subarray(length === 127 ? 10 : length === 126 ? 4 : 2);
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

/** The parts of a ws 8 WebSocket that `sendMessage` reads (not in its typings). */
interface WsInternals {
  _socket?: { write(chunk: Buffer): boolean };
  _sender?: { _state: number; _firstFragment: boolean; _queue: unknown[] };
}

/**
 * Sends a ready message (`frameBinary`) on `ws`: straight to its socket while ws's sender
 * is idle (nothing queued, no message half sent: ws writes each message whole, so ours cannot interleave with
 * one), else through `ws.send` with the payload. The caller checked that `ws` is open.
 */
export function sendMessage(ws: WebSocket, message: Buffer): void {
  const { _socket: socket, _sender: sender } = ws as unknown as WsInternals;
  if (socket && sender && sender._state === 0 && sender._firstFragment && sender._queue.length === 0) socket.write(message);
  else ws.send(payloadOf(message));
}
