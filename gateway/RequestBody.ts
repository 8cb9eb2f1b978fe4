import type { IncomingMessage } from 'node:http';
import { unpack } from '../core/Codec';
import { HeraldError } from '../core/HeraldError';

export const MSGPACK = 'application/msgpack';

/** The body's bytes, refusing more than `limit` (by Content-Length first, then as it arrives) without buffering them. */
async function bytesOf(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', `body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', `body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A JSON or msgpack body (by Content-Type; anything else is refused). */
export async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json' && type !== MSGPACK) {
    throw new HeraldError('HERALD_UNSUPPORTED_MEDIA_TYPE', 'send application/json or application/msgpack');
  }
  const raw = await bytesOf(req, limit);
  try {
    return type === MSGPACK ? unpack(raw) : JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HeraldError('HERALD_BAD_FRAME', `body is not valid ${type === MSGPACK ? 'msgpack' : 'JSON'}`);
  }
}

/** A small JSON object body (admin requests, sent without a Content-Type by curl); empty means `{}`. */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const raw = (await bytesOf(req, limit)).toString('utf8');
  if (!raw.trim()) return {};
  try {
    const v = JSON.parse(raw);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch {
    throw new HeraldError('HERALD_BAD_FRAME', 'body is not a JSON object');
  }
}
