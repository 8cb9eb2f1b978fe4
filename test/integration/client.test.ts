import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '@msgpack/msgpack';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { HeraldClient, HeraldClientError, type ConnectionState, type HeraldClientOptions, type Notification, type Subscribed } from '../../client';
import { ClusterProcess, TestData } from '../support/cluster';
import { waitFor } from '../support/waitFor';

type Frame = Record<string, any>;

/** `ws` with every frame the client sends recorded, decoded, per socket. */
function spyingWebSocket() {
  const sockets: Frame[][] = [];
  class SpyWebSocket extends WebSocket {
    readonly frames: Frame[] = [];
    constructor(url: string) {
      super(url);
      sockets.push(this.frames);
    }
    override send(data: any, ...rest: any[]): void {
      this.frames.push(typeof data === 'string' ? JSON.parse(data) : (decode(data) as Frame));
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  }
  return { SpyWebSocket, sockets, all: () => sockets.flat() };
}

async function rejection(p: Promise<unknown>): Promise<HeraldClientError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HeraldClientError);
    return err as HeraldClientError;
  }
  throw new Error('expected a rejection');
}

describe('client: HeraldClient against a real cluster', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  const clients: HeraldClient[] = [];
  let seq = 0;
  const follow = (actor: string, target: string) => ({ id: `c-${++seq}`, type: 'follow' as const, actor, target });

  function client(user: string, role: 'user' | 'producer' = 'user', opts: Partial<HeraldClientOptions> = {}): HeraldClient {
    const c = new HeraldClient({
      url: () => cluster.info.ws,
      token: data.token(user, role),
      WebSocket,
      backoff: { initialMs: 50, maxMs: 500 },
      ...opts,
    });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    cluster = await data.startCluster();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.stop();
    data.remove();
  });

  it('publishes and receives a live notification; pages, marks read; errors carry code and retryable', async () => {
    const spy = spyingWebSocket();
    const bob = client('bob'); // msgpack, the default
    const got: Notification[] = [];
    const subscribed = await bob.subscribe((n) => got.push(n));
    expect(subscribed).toMatchObject({ offset: 0, unread: 0, recovered: true });
    expect(typeof subscribed.epoch).toBe('string');

    const alice = client('alice', 'user', { format: 'json', WebSocket: spy.SpyWebSocket });
    await alice.connect();
    expect(alice.state).toBe('open');
    expect(await alice.publish([follow('alice', 'bob')])).toEqual({ accepted: 1 });
    await waitFor('the live notification', () => got.length === 1);
    expect(got[0]).toMatchObject({ offset: 1, type: 'follow', actors: ['alice'], text: 'alice followed you' });
    expect(bob.cursor).toEqual({ offset: 1, epoch: subscribed.epoch });

    const page = await bob.timeline({ limit: 10 });
    expect(page.items.map((n) => n.offset)).toEqual([1]);
    expect(page.unread).toBe(1);
    expect(page.next).toBeUndefined();
    expect(await bob.read(1)).toEqual({ unread: 0 });

    const forbidden = await rejection(alice.publish([follow('mallory', 'bob')]));
    expect(forbidden).toMatchObject({ code: 'HERALD_FORBIDDEN', retryable: false });
    const invalid = await rejection(alice.publish([{ id: 'x1', type: 'follow', actor: 'alice' }]));
    expect(invalid).toMatchObject({ code: 'HERALD_INVALID_EVENT', retryable: false });
    const schema = await rejection(alice.publish([{ id: 'x2', type: 'poke' as 'follow', actor: 'alice', target: 'bob' }]));
    expect(schema).toMatchObject({ code: 'HERALD_INVALID_MESSAGE', retryable: false });
    expect(await rejection(bob.subscribe(() => undefined))).toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });

    // JSON text frames went out, each request with its own id.
    const ids = spy.all().map((f) => f.id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
  });

  it('reconnects after the cluster restarts and resubscribes with since/epoch: missed ones exactly once, in order', async () => {
    const spy = spyingWebSocket();
    let hold: Promise<void> | undefined;
    let release = () => {};
    let tokens = 0;
    const carol = client('carol', 'user', {
      WebSocket: spy.SpyWebSocket,
      url: async () => {
        await hold;
        return cluster.info.ws;
      },
      token: () => (tokens++, data.token('carol')),
    });
    const states: ConnectionState[] = [];
    const subscribedAnswers: Subscribed[] = [];
    carol.on('state', (s) => states.push(s));
    carol.on('subscribed', (s) => subscribedAnswers.push(s));
    const got: Notification[] = [];
    await carol.subscribe((n) => got.push(n));
    const producer = client('svc', 'producer');

    await producer.publish([1, 2, 3].map((i) => follow(`f${i}`, 'carol')));
    await waitFor('3 live notifications', () => got.length === 3);
    const epoch = carol.cursor!.epoch;

    // Down: carol's url waits on `hold`, so she stays away while the new cluster takes 4 more.
    hold = new Promise((r) => (release = r));
    await cluster.stop();
    await waitFor('carol noticing the drop', () => carol.state !== 'open');
    cluster = await data.startCluster();
    // The producer's publish waits for its own reconnect, then goes out once.
    await producer.publish([4, 5, 6, 7].map((i) => follow(`f${i}`, 'carol')));
    expect(got).toHaveLength(3);

    release();
    hold = undefined;
    await waitFor('the replay of 4..7', () => got.length === 7);
    await producer.publish([8, 9].map((i) => follow(`f${i}`, 'carol')));
    await waitFor('2 more live ones', () => got.length >= 9);
    // A later one arrives after any repeat of 1..9 would have: only it follows them.
    await producer.publish([follow('f10', 'carol')]);
    await waitFor('the live 10', () => got.some((n) => n.offset === 10));
    expect(got.map((n) => n.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(got.map((n) => n.actors[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => `f${i}`));

    const subscribes = spy.all().filter((f) => f.op === 'subscribe');
    expect(subscribes[0]).toEqual({ op: 'subscribe' });
    expect(subscribes.at(-1)).toEqual({ op: 'subscribe', since: 3, epoch });
    expect(subscribedAnswers.at(-1)).toMatchObject({ recovered: true, epoch, offset: 7 });
    expect(tokens).toBeGreaterThanOrEqual(2); // asked again on reconnect
    expect(states.slice(0, 2)).toEqual(['connecting', 'open']);
    expect(states).toContain('reconnecting');
    expect(states.at(-1)).toBe('open');
    expect(carol.cursor).toEqual({ offset: 10, epoch });
  });

  it('a resume over superseded offsets (an aggregate) has no gap: stand-ins move the cursor and are not delivered', async () => {
    const producer = client('svc', 'producer');
    const likes = Array.from({ length: 5 }, (_, i) => ({ id: `agg-${i}`, type: 'like' as const, actor: `fan${i}`, tweet: { id: 'agg-t', author: 'ivy' } }));
    await producer.publish([follow('zed', 'ivy'), ...likes]);
    const ivy = client('ivy');
    const got: Notification[] = [];
    const errors: unknown[] = [];
    ivy.on('error', (err) => errors.push(err));
    await ivy.subscribe((n) => got.push(n), { since: 0 });
    await waitFor('the replay', () => ivy.cursor?.offset === 6);
    expect(got.map((n) => [n.offset, n.type, n.count])).toEqual([
      [1, 'follow', undefined],
      [6, 'like', 5],
    ]);
    expect(errors).toEqual([]); // offsets 2..5 were stand-ins: no gap reported
    expect((await ivy.timeline()).unread).toBe(2);
  });

  it('recovered:false (a resume from another epoch) replays nothing and calls onReload; live ones follow', async () => {
    const producer = client('svc2', 'producer');
    await producer.publish([follow('g1', 'dave'), follow('g2', 'dave')]);
    const dave = client('dave');
    const reloads: Subscribed[] = [];
    const reloadEvents: Subscribed[] = [];
    dave.on('reload', (s) => reloadEvents.push(s));
    const got: Notification[] = [];
    const answer = await dave.subscribe((n) => got.push(n), { since: 1, epoch: 'not-this-epoch', onReload: (s) => reloads.push(s) });
    expect(answer).toMatchObject({ recovered: false, offset: 2, unread: 2 });
    expect(reloads).toEqual([answer]);
    expect(reloadEvents).toEqual([answer]);
    // The app reloads: the timeline has everything up to the answer's offset.
    expect((await dave.timeline()).items.map((n) => n.offset)).toEqual([2, 1]);
    // The live one comes after any replay would have: it is the only one.
    await producer.publish([follow('g3', 'dave')]);
    await waitFor('the live one after the reload', () => got.some((n) => n.offset === 3));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ offset: 3, actors: ['g3'] });
    expect(dave.cursor).toEqual({ offset: 3, epoch: answer.epoch });
  });
});

/**
 * What a real cluster will not do on demand: drop a socket while a publish is in flight, never answer, repeat or
 * skip offsets. A scripted ws server plays the gateway.
 */
describe('client: drops, timeouts, duplicates and gaps (scripted server)', () => {
  let server: WebSocketServer;
  let url: string;
  const clients: HeraldClient[] = [];
  const connections: Array<{ ws: WebSocket; frames: Frame[]; url: string }> = [];
  let onFrame: (conn: number, ws: WebSocket, f: Frame) => void = () => {};
  const note = (offset: number) => ({ op: 'notification', notification: { offset, type: 'follow', actors: [`a${offset}`], eventIds: [`e${offset}`], ts: 1 } });
  const sendTo = (ws: WebSocket, msg: object) => ws.send(Buffer.from(encode(msg)));

  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/ws`;
    server.on('connection', (ws, req) => {
      const conn = connections.push({ ws, frames: [], url: req.url ?? '' }) - 1;
      ws.on('message', (raw: RawData, isBinary) => {
        const f = (isBinary ? decode(raw as Buffer) : JSON.parse(raw.toString())) as Frame;
        connections[conn].frames.push(f);
        onFrame(conn, ws, f);
      });
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const c of connections) c.ws.terminate();
    await new Promise((r) => server.close(r));
  });

  function client(opts: Partial<HeraldClientOptions> = {}): HeraldClient {
    const c = new HeraldClient({ url, token: 'tok en', WebSocket, backoff: { initialMs: 20, maxMs: 100 }, ...opts });
    clients.push(c);
    return c;
  }

  it('rejects an in-flight publish with HERALD_UNAVAILABLE when the socket drops; dedupes replays; resubscribes over a gap', async () => {
    const first = connections.length;
    onFrame = (conn, ws, f) => {
      const n = conn - first;
      if (f.op === 'subscribe' && n === 0) {
        sendTo(ws, { op: 'subscribed', offset: 2, unread: 2, epoch: 'e1', recovered: true });
        for (const o of [1, 2, 2, 1, 3]) sendTo(ws, note(o)); // repeats and a stale one
      }
      if (f.op === 'publish' && n === 0) setTimeout(() => ws.terminate(), 50); // never acked
      if (f.op === 'subscribe' && n === 1) {
        sendTo(ws, { op: 'subscribed', offset: 4, unread: 4, epoch: 'e1', recovered: true });
        for (const o of [2, 3, 4, 6]) sendTo(ws, note(o)); // overlap, then a gap (5 missing)
      }
      if (f.op === 'subscribe' && n === 2) {
        sendTo(ws, { op: 'subscribed', offset: 6, unread: 6, epoch: 'e1', recovered: true });
        for (const o of [5, 6, 6, 7]) sendTo(ws, note(o)); // a repeat, then a later one that ends the script
      }
    };
    const c = client();
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    const got: number[] = [];
    await c.subscribe((n) => got.push(n.offset), { since: 0 });
    await waitFor('1..3', () => got.length === 3);
    const err = await rejection(c.publish([{ id: 'p1', type: 'follow', actor: 'a', target: 'b' }]));
    expect(err).toMatchObject({ code: 'HERALD_UNAVAILABLE', retryable: true });
    await waitFor('the last one, 7', () => got.includes(7));
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const subs = connections.slice(first).map((x) => x.frames.find((f) => f.op === 'subscribe'));
    expect(subs).toEqual([
      { op: 'subscribe', since: 0 },
      { op: 'subscribe', since: 3, epoch: 'e1' },
      { op: 'subscribe', since: 4, epoch: 'e1' },
    ]);
    expect(errors.map((e) => (e as HeraldClientError).code)).toEqual(['HERALD_INTERNAL']); // the gap
    expect(connections[first].url).toBe('/v1/ws?token=tok+en');
  });

  it('times a request out, sends it only once, and rejects everything with HERALD_CLOSED after close()', async () => {
    onFrame = () => {}; // a server that never answers
    const c = client({ requestTimeoutMs: 300, format: 'json' });
    const first = connections.length;
    const err = await rejection(c.timeline({ limit: 5 }));
    expect(err).toMatchObject({ code: 'HERALD_UNAVAILABLE', retryable: true });
    expect(connections.slice(first).flatMap((x) => x.frames)).toEqual([{ op: 'timeline', id: expect.any(String), limit: 5 }]);

    const pending = rejection(c.read(3));
    const sub = rejection(c.subscribe(() => undefined));
    await waitFor('the read on the wire', () => connections.slice(first).flatMap((x) => x.frames).length === 3);
    const states: ConnectionState[] = [];
    c.on('state', (s) => states.push(s));
    await c.close();
    expect(await pending).toMatchObject({ code: 'HERALD_CLOSED', retryable: false });
    expect(await sub).toMatchObject({ code: 'HERALD_CLOSED' });
    expect(await rejection(c.publish([{ id: 'p2', type: 'follow', actor: 'a', target: 'b' }]))).toMatchObject({ code: 'HERALD_CLOSED' });
    expect(states).toEqual(['closed']);
    // No reconnect after close(). A reconnect's timer is due within the backoff ceiling (maxMs 100) and its dial
    // says 'connecting' at once, so a timer past the ceiling fires after it would have: waiting is the behaviour.
    const before = connections.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(states).toEqual(['closed']);
    expect(connections.length).toBe(before);
  });

  it('rejects subscribe on a non-retryable server error and retries a retryable one', async () => {
    let subscribes = 0;
    onFrame = (_conn, ws, f) => {
      if (f.op !== 'subscribe') return;
      subscribes++;
      if (f.since === 99) sendTo(ws, { op: 'error', code: 'HERALD_INVALID_MESSAGE', message: 'nope' });
      else if (subscribes === 2) sendTo(ws, { op: 'error', code: 'HERALD_UNAVAILABLE', message: 'owner down' });
      else sendTo(ws, { op: 'subscribed', offset: 0, unread: 0, epoch: 'e2', recovered: true });
    };
    const bad = client();
    expect(await rejection(bad.subscribe(() => undefined, { since: 99 }))).toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });
    const good = client();
    const errors: unknown[] = [];
    good.on('error', (e) => errors.push(e));
    expect(await good.subscribe(() => undefined)).toMatchObject({ epoch: 'e2', recovered: true });
    expect(subscribes).toBe(3);
    expect(errors.map((e) => (e as HeraldClientError).code)).toEqual(['HERALD_UNAVAILABLE']);
  });
});
