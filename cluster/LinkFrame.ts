import { packShared, unpack } from '../core/Codec';
import { HeraldError } from '../core/HeraldError';

/**
 * The frames of a node link: a 4-byte big-endian length, then one msgpack array. Raw bytes (Uint8Array) travel
 * as msgpack bin, with no base64 and no JSON in between (docs/architecture.md says why).
 */
export const enum FrameKind {
  /** [0, id, op, args]: a call that wants a reply. */
  Call = 0,
  /** [1, id, result] */
  Result = 1,
  /** [2, id, {code, message}]: the call failed with a HeraldError. */
  Failure = 2,
  /** [3, op, args]: one-way (a node hands its deliveries to the gateway). */
  Notice = 3,
  /** [4, nonce]: the server's challenge, first frame on every connection. */
  Challenge = 4,
  /** [5, proof, name, nonce]: the client's answer, who it is, and its own challenge to the server. */
  Answer = 5,
  /** [6, proof]: the server's answer to the client's challenge; the link is up. */
  Welcome = 6,
}

export type Frame =
  | [FrameKind.Call, number, string, unknown]
  | [FrameKind.Result, number, unknown]
  | [FrameKind.Failure, number, { code: string; message: string }]
  | [FrameKind.Notice, string, unknown]
  | [FrameKind.Challenge, Uint8Array]
  | [FrameKind.Answer, Uint8Array, string, Uint8Array]
  | [FrameKind.Welcome, Uint8Array];

/** Largest frame a link accepts before authentication (a challenge or an answer is well under 200 bytes). */
export const HANDSHAKE_MAX_FRAME = 1024;

/** One frame as one Buffer (length prefix included), so a frame is one write. */
export function encodeFrame(frame: Frame, maxFrame: number): Buffer {
  const body = packShared(frame);
  if (body.length > maxFrame) throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', `link frame of ${body.length} bytes exceeds ${maxFrame}`);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;

/** Checks the shape of a decoded frame; anything else is refused (the link is closed). */
export function validFrame(v: unknown): v is Frame {
  if (!Array.isArray(v)) return false;
  switch (v[0]) {
    case FrameKind.Call:
      return v.length === 4 && isId(v[1]) && isName(v[2]);
    case FrameKind.Result:
      return v.length === 3 && isId(v[1]);
    case FrameKind.Failure:
      return v.length === 3 && isId(v[1]) && typeof v[2]?.code === 'string' && typeof v[2]?.message === 'string';
    case FrameKind.Notice:
      return v.length === 3 && isName(v[1]);
    case FrameKind.Challenge:
      return v.length === 2 && isBytes(v[1]);
    case FrameKind.Answer:
      return v.length === 4 && isBytes(v[1]) && isName(v[2]) && isBytes(v[3]);
    case FrameKind.Welcome:
      return v.length === 2 && isBytes(v[1]);
    default:
      return false;
  }
}

/**
 * Cuts a byte stream into frames. Chunks are kept as they arrive and joined once a whole frame is there, so a
 * large frame costs one copy. A length above `maxFrame`, or bytes that are not a valid frame, throw.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(public maxFrame: number) {}

  /** Adds a chunk and returns the whole frames it completed. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= 4) {
      const head = this.chunks[0].length >= 4 ? this.chunks[0] : this.join();
      const size = head.readUInt32BE(0);
      if (size > this.maxFrame) throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', `link frame of ${size} bytes exceeds ${this.maxFrame}`);
      if (this.buffered < 4 + size) break;
      const all = this.chunks.length === 1 ? this.chunks[0] : this.join();
      let value: unknown;
      try {
        value = unpack(all.subarray(4, 4 + size));
      } catch {
        throw new HeraldError('HERALD_BAD_FRAME', 'link frame is not msgpack');
      }
      if (!validFrame(value)) throw new HeraldError('HERALD_BAD_FRAME', 'link frame has no known shape');
      frames.push(value);
      const rest = all.subarray(4 + size);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}
