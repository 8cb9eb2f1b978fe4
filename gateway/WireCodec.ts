import { pack, packShared, unpack } from '../storage/Codec';
import { HeraldError } from '../storage/HeraldError';
import { frameBinary } from './NotificationFrame';

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

let lastNotification: object | undefined;
let lastFormat: Format | undefined;
let lastMessage: Buffer | string = '';

/**
 * `{op: 'notification', notification}` for a live socket: in msgpack a whole binary WebSocket message
 * (NotificationFrame.ts, sent with `sendMessage`), in JSON the text to send. Encoded once per notification and
 * format: a user's sockets share it. Only the last one is kept: a notification goes to its sockets in a row.
 */
export function notificationMessage(notification: object, format: Format): Buffer | string {
  if (notification === lastNotification && format === lastFormat) return lastMessage;
  if (format === 'json') lastMessage = JSON.stringify({ op: 'notification', notification });
  else lastMessage = frameBinary(packShared({ op: 'notification', notification }));
  lastNotification = notification;
  lastFormat = format;
  return lastMessage;
}
