import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameKind, FrameReader, encodeFrame } from '../../../cluster/LinkFrame';
import { LinkServer } from '../../../cluster/LinkServer';
import { NodeLink, type LinkHandler, type LinkOptions } from '../../../cluster/NodeLink';
import { NodePeers } from '../../../cluster/NodePeers';
import { HeraldError } from '../../../core/HeraldError';
import { createLogger } from '../../../core/logger';
import type { BenchOps } from '../../../core/nodeProtocol';
import { waitFor } from '../../support/waitFor';

const log = createLogger('test', 'silent');
const opts: LinkOptions = { secret: randomBytes(32).toString('base64'), maxFrame: 64 * 1024, handshakeMs: 1000 };

describe('node link', () => {
  const servers: LinkServer[] = [];
  const links: NodeLink[] = [];
  afterEach(() => {
    for (const l of links.splice(0)) l.close();
    for (const s of servers.splice(0)) s.close();
  });

  const calls: Array<[string, unknown, string]> = [];
  const handler: LinkHandler = async (op, args, link) => {
    calls.push([op, args, link.peer]);
    if (op === 'echo') return args;
    if (op === 'fail') throw new HeraldError('HERALD_WRONG_OWNER', 'not mine');
    if (op === 'slow') return new Promise((r) => setTimeout(() => r('late'), 300));
    if (op === 'push') {
      link.notify('deliver', { n: 1 });
      return null;
    }
    throw new HeraldError('HERALD_UNKNOWN_OP', op);
  };
  const listen = async (o = opts) => {
    const s = await LinkServer.listen('127.0.0.1', o, handler, log);
    servers.push(s);
    return s;
  };
  const dial = async (s: LinkServer, o = opts, name = 'gateway') => {
    const l = await NodeLink.connect('127.0.0.1', s.address.port, name, o, undefined, 'node-1');
    links.push(l);
    return l;
  };
  /** Reads frames from a raw socket (the test plays a client by hand). */
  const rawFrames = (socket: Socket) => {
    const reader = new FrameReader(1024);
    const frames: unknown[][] = [];
    socket.on('data', (c: Buffer) => frames.push(...(reader.push(c) as unknown[][])));
    return frames;
  };
  const closed = (socket: Socket) => new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));

  it('carries calls, results with raw bytes as bytes, HERALD errors with their code, and notices', async () => {
    const server = await listen();
    const link = await dial(server);
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const got = await link.call<{ text: string; raw: Uint8Array }>('echo', { text: 'ünïcødé 🚀', raw: bytes }, 1000);
    expect(got.text).toBe('ünïcødé 🚀');
    expect(got.raw).toBeInstanceOf(Uint8Array);
    expect([...got.raw]).toEqual([0, 1, 2, 255]);
    await expect(link.call('fail', null, 1000)).rejects.toMatchObject({ code: 'HERALD_WRONG_OWNER', message: 'not mine' });
    const notices: unknown[] = [];
    link.onNotice = (op, args) => notices.push([op, args]);
    await link.call('push', null, 1000);
    await waitFor('the notice', () => notices.length > 0);
    expect(notices).toEqual([['deliver', { n: 1 }]]);
    expect(calls.at(-1)![2]).toBe('gateway'); // the server knows who called
    expect(server.received.gateway).toMatchObject({ echo: 1, fail: 1, push: 1 });
  });

  it('rejects a call past its deadline with HERALD_UNAVAILABLE, and every pending call when the link closes', async () => {
    const server = await listen();
    const link = await dial(server);
    await expect(link.call('slow', null, 50)).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    const pending = link.call('slow', null, 5000);
    server.close();
    for (const l of server.links.values()) l.close();
    await expect(pending).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    expect(link.closed).toBe(true);
  });

  it('refuses a client with the wrong secret, and a server with the wrong secret', async () => {
    const server = await listen();
    await expect(dial(server, { ...opts, secret: 'wrong' })).rejects.toBeInstanceOf(HeraldError);
    expect(server.refused).toBe(1);
    expect(server.links.size).toBe(0);
    const impostor = await listen({ ...opts, secret: 'wrong' });
    await expect(dial(impostor)).rejects.toBeInstanceOf(HeraldError);
  });

  it('closes a connection whose answer has the wrong HMAC before reading any other frame', async () => {
    const server = await listen();
    const socket = connect({ host: '127.0.0.1', port: server.address.port });
    const frames = rawFrames(socket);
    await new Promise((r) => socket.once('data', r));
    expect(frames[0][0]).toBe(FrameKind.Challenge);
    const before = calls.length;
    // A wrong proof, then a call in the same write: the call must never reach the handler.
    socket.write(
      Buffer.concat([encodeFrame([FrameKind.Answer, randomBytes(32), 'gateway', randomBytes(32)], 1024), encodeFrame([FrameKind.Call, 1, 'echo', 'x'], 1024)]),
    );
    await closed(socket);
    expect(calls.length).toBe(before);
    expect(server.refused).toBe(1);
  });

  it('closes a connection that sends a frame over the limit (before and after authentication)', async () => {
    const server = await listen();
    const raw = connect({ host: '127.0.0.1', port: server.address.port });
    raw.on('error', () => undefined);
    await new Promise((r) => raw.once('data', r));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(10_000); // larger than any handshake frame
    raw.write(head);
    await closed(raw);

    const link = await dial(server);
    await expect(link.call('echo', 'x'.repeat(opts.maxFrame), 1000)).rejects.toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
    expect(link.closed).toBe(false); // refused on our side, nothing sent
    // A peer that sends one anyway is cut off: a server with a smaller limit.
    const small = await listen({ ...opts, maxFrame: 1024 });
    const l2 = await dial(small);
    await expect(l2.call('echo', 'x'.repeat(4096), 1000)).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    expect(l2.closed).toBe(true);
  });

  it('closes a link on a frame of unknown shape', async () => {
    const server = await listen();
    const link = await dial(server);
    (link as unknown as { socket: Socket }).socket.write(encodeFrame([9, 'what'] as never, 1024));
    await new Promise((r) => link.onClose(() => r(undefined)));
    expect(link.closed).toBe(true);
  });

  it('lets a node call its peers by id, reconnecting after a peer comes back on a new port', async () => {
    const a = await listen();
    const peers = new NodePeers<BenchOps>('node-1', opts, log);
    await expect(peers.call('node-2', 'echo', 1, 500)).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    peers.set(1, { 'node-2': a.address });
    expect(await peers.call('node-2', 'echo', 'hi', 1000)).toBe('hi');
    expect(calls.at(-1)![2]).toBe('node-1');
    a.close();
    await expect(peers.call('node-2', 'echo', 'hi', 300)).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    const b = await listen();
    peers.set(0, { 'node-2': { host: '127.0.0.1', port: 1 } }); // older announcement: ignored
    peers.set(2, { 'node-2': b.address });
    expect(await peers.call('node-2', 'echo', 'again', 1000)).toBe('again');
    expect(peers.sent['node-2']).toEqual({ echo: 4 });
    peers.close();
  });
});
