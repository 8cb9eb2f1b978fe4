import { encode } from '@msgpack/msgpack';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { payloadOf, sendMessage } from '../../../gateway/NotificationFrame';
import { decodeFrame, encodeFrame, notificationMessage } from '../../../gateway/WireCodec';
import { pack } from '../../../core/Codec';
import type { Notification } from '../../../core/Event';

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

const decodeMessage = (m: Buffer | string) => (typeof m === 'string' ? JSON.parse(m) : decodeFrame(payloadOf(m), true).msg);

/** A notification as a node may send it: the named fields, and others the codec must frame all the same. */
type WireNotification = Notification & Record<string, unknown>;

describe('notificationMessage', () => {
  const cases: Record<string, WireNotification> = {
    plain: { offset: 1, type: 'like', actors: ['fan-1'], tweetId: 't-1', text: 'b', eventIds: ['e1'], ts: 1_795_000_000_123 },
    aggregated: {
      offset: 70_000,
      type: 'like',
      actors: Array.from({ length: 20 }, (_, i) => `fan-${i}`),
      eventIds: Array.from({ length: 40 }, (_, i) => `L${i}.123456`),
      ts: 5,
      count: 40,
      replaces: 69_999,
    },
    unicode: {
      offset: 2,
      type: 'reply',
      actors: ['ünïcødé'],
      text: '🚀 héllo 世界 مرحبا 👩‍👩‍👧 '.repeat(30),
      eventIds: ['é'.repeat(40)],
      ts: 0,
      reason: 'x'.repeat(300),
    },
    numbers: { offset: 0, type: 't', actors: [], eventIds: [], ts: -1, a: -200, b: -40000, c: -3_000_000_000, d: 1.5, e: 2 ** 40, f: 65_535, g: 255, h: 128 },
    odd: { offset: 3, type: 't', actors: [], eventIds: [], ts: 1, gone: undefined, flag: true, off: false, none: null, long: 'y'.repeat(70_000) },
  };
  it.each(Object.keys(cases))('is a binary WebSocket message whose payload decodes to what the generic encoder gives: %s', (name) => {
    const n = cases[name];
    const message = notificationMessage(n, 'msgpack') as Buffer;
    expect(message[0]).toBe(0x82); // final, binary
    const payload = payloadOf(message);
    const declared =
      (message[1] & 0x7f) === 127 ? Number(message.readBigUInt64BE(2)) : (message[1] & 0x7f) === 126 ? message.readUInt16BE(2) : message[1] & 0x7f;
    expect(declared).toBe(payload.length);
    expect(decodeMessage(message)).toEqual(decodeFrame(encodeFrame({ op: 'notification', notification: n }, 'msgpack') as Buffer, true).msg);
  });

  it('plain notifications are byte for byte what the generic encoder writes', () => {
    const n = cases.plain;
    expect(payloadOf(notificationMessage(n, 'msgpack') as Buffer).equals(encodeFrame({ op: 'notification', notification: n }, 'msgpack') as Buffer)).toBe(true);
  });

  it('falls back to the generic encoder for nested objects, and JSON is JSON text', () => {
    const n = { offset: 1, type: 'x', actors: [], eventIds: [], ts: 1, extra: { deep: [1, { a: 'b' }] } };
    expect(decodeMessage(notificationMessage(n, 'msgpack'))).toEqual({ op: 'notification', notification: n });
    expect(JSON.parse(notificationMessage(n, 'json') as string)).toEqual({ op: 'notification', notification: n });
  });

  it.each(Object.keys(cases))("frames a notification given as its node's bytes as it frames the decoded one: %s", (name) => {
    const n = cases[name];
    const fromNode = { offset: 1, packed: pack(n) };
    expect((notificationMessage(fromNode, 'msgpack') as Buffer).equals(Buffer.from(notificationMessage({ ...n }, 'msgpack') as Buffer))).toBe(true);
    expect(notificationMessage({ offset: 1, packed: pack(n) }, 'json')).toBe(notificationMessage({ ...n }, 'json'));
  });

  it('encodes a notification once for several sockets of one format', () => {
    const n = { offset: 9, type: 'like', actors: ['a'], eventIds: ['e'], ts: 1 };
    expect(notificationMessage(n, 'msgpack')).toBe(notificationMessage(n, 'msgpack'));
  });

  it('sendMessage: through ws.send with the payload when the socket cannot take a ready message', () => {
    const payloads: Buffer[] = [];
    const message = notificationMessage(cases.plain, 'msgpack') as Buffer;
    sendMessage({ send: (p: Buffer) => payloads.push(p) } as unknown as WebSocket, message);
    expect(payloads).toEqual([payloadOf(message)]);
  });

  it('sendMessage: a client receives every message whole, mixed with ordinary ws.send messages', async () => {
    const wss = new WebSocketServer({ port: 0, perMessageDeflate: false });
    await once(wss, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    const [server] = (await once(wss, 'connection')) as [WebSocket];
    const got: unknown[] = [];
    client.on('message', (data: Buffer, isBinary: boolean) => got.push(decodeFrame(data, isBinary).msg));
    const sent: unknown[] = [];
    for (const [i, name] of Object.keys(cases).entries()) {
      sendMessage(server, notificationMessage(cases[name], 'msgpack') as Buffer);
      sent.push(decodeMessage(notificationMessage(cases[name], 'msgpack')));
      server.send(encodeFrame({ op: 'pong', id: `p${i}` }, i % 2 ? 'json' : 'msgpack'));
      sent.push({ op: 'pong', id: `p${i}` });
    }
    await vi.waitFor(() => expect(got).toHaveLength(sent.length));
    expect(got).toEqual(sent);
    client.close();
    wss.close();
  });
});
