import { decode, encode } from '@msgpack/msgpack';
import { HeraldError } from '../storage/HeraldError';

/** Binary frames are msgpack, text frames JSON, same shapes; a reply uses the format of the frame it answers. */
export type Format = 'json' | 'msgpack';

export function decodeFrame(data: Buffer, isBinary: boolean): { msg: unknown; format: Format } {
  const format: Format = isBinary ? 'msgpack' : 'json';
  try {
    const msg = isBinary ? decode(data) : JSON.parse(data.toString('utf8'));
    return { msg, format };
  } catch {
    throw new HeraldError('HERALD_BAD_FRAME', isBinary ? 'frame is not valid msgpack' : 'frame is not valid JSON');
  }
}

export function encodeFrame(msg: object, format: Format): Buffer | string {
  return format === 'msgpack' ? Buffer.from(encode(msg, { ignoreUndefined: true })) : JSON.stringify(msg);
}
