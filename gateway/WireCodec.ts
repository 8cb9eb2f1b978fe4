import { pack, packShared, unpack } from '../core/Codec';
import { HeraldError } from '../core/HeraldError';
import type { Notification } from '../core/Event';
import type { PackedNotification } from '../core/nodeProtocol';
import { frameBinary, frameBinaryAfter } from './NotificationFrame';

/** Binary frames are msgpack, text frames JSON, same shapes; a reply uses the format of the frame it answers. */
export type Format = 'json' | 'msgpack';

export function decodeFrame(data: Buffer, isBinary: boolean): { msg: unknown; format: Format } {
  const format: Format = isBinary ? 'msgpack' : 'json';
  try {
    const msg = isBinary ? unpack(data) : JSON.parse(data.toString('utf8'));
    return { msg, format };
  } catch {
    throw new HeraldError('HERALD_BAD_FRAME', isBinary ? 'frame is not valid msgpack' : 'frame is not valid JSON');
  }
}

export function encodeFrame(msg: object, format: Format): Buffer | string {
  // The shared encoder: a new one per frame allocated its buffer each time (it showed in the gateway's profile).
  if (format === 'json') return JSON.stringify(msg);
  const bytes = pack(msg);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A notification for a live socket: decoded (a replay read from the owner, a fanout's), or as its node's bytes. */
export type LiveNotification = Notification | PackedNotification;

/** `{op: 'notification', notification: ...}` in msgpack up to the notification's own bytes (the codec's, so the same). */
const NOTIFICATION_PREFIX = (() => {
  const whole = pack({ op: 'notification', notification: null });
  return whole.subarray(0, whole.length - 1);
})();

let lastNotification: object | undefined;
let lastFormat: Format | undefined;
let lastMessage: Buffer | string = '';

/**
 * `{op: 'notification', notification}` for a live socket: in msgpack a whole binary WebSocket message
 * (NotificationFrame.ts, sent with `sendMessage`), in JSON the text to send. Encoded once per notification and
 * format: a user's sockets share it. Only the last one is kept: a notification goes to its sockets in a row.
 * A packed notification is framed as its bytes are (msgpack), or decoded for JSON.
 */
export function notificationMessage(notification: LiveNotification, format: Format): Buffer | string {
  if (notification === lastNotification && format === lastFormat) return lastMessage;
  const packed = (notification as PackedNotification).packed;
  if (packed !== undefined) {
    if (format === 'json') lastMessage = JSON.stringify({ op: 'notification', notification: unpack(packed) });
    else lastMessage = frameBinaryAfter(NOTIFICATION_PREFIX, packed);
  } else if (format === 'json') lastMessage = JSON.stringify({ op: 'notification', notification });
  else lastMessage = frameBinary(packShared({ op: 'notification', notification }));
  lastNotification = notification;
  lastFormat = format;
  return lastMessage;
}
