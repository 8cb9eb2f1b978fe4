import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from '../../../gateway/WireCodec';

const msg = { op: 'publish', id: 'p1', events: [{ id: 'e1', type: 'tweet', actor: 'ünïcødé', tweet: { text: '🚀 héllo 世界 مرحبا 👩‍👩‍👧', n: 3.5, ok: true } }] };

describe('WireCodec', () => {
  it('round-trips JSON text frames with emoji and non-Latin text', () => {
    const frame = encodeFrame(msg, 'json');
    expect(typeof frame).toBe('string');
    expect(decodeFrame(Buffer.from(frame as string, 'utf8'), false)).toEqual({ msg, format: 'json' });
  });

  it('round-trips msgpack binary frames with emoji and non-Latin text', () => {
    const frame = encodeFrame(msg, 'msgpack');
    expect(Buffer.isBuffer(frame)).toBe(true);
    expect(decodeFrame(frame as Buffer, true)).toEqual({ msg, format: 'msgpack' });
  });

  it('drops undefined fields in msgpack like JSON does', () => {
    const frame = encodeFrame({ op: 'x', gone: undefined }, 'msgpack') as Buffer;
    expect(decodeFrame(frame, true).msg).toEqual({ op: 'x' });
  });

  it.each(['{"op":', 'not json', '', '{op: 1}'])('throws HERALD_BAD_FRAME on invalid JSON %j', (text) => {
    expect(() => decodeFrame(Buffer.from(text), false)).toThrow(expect.objectContaining({ code: 'HERALD_BAD_FRAME' }));
  });

  it('throws HERALD_BAD_FRAME on truncated or empty msgpack', () => {
    const full = Buffer.from(encode(msg));
    for (const cut of [1, 5, full.length - 1]) {
      expect(() => decodeFrame(full.subarray(0, cut), true)).toThrow(expect.objectContaining({ code: 'HERALD_BAD_FRAME' }));
    }
    expect(() => decodeFrame(Buffer.alloc(0), true)).toThrow(expect.objectContaining({ code: 'HERALD_BAD_FRAME' }));
  });
});
