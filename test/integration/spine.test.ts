import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '@msgpack/msgpack';
import { isAlive } from '../../scripts/ClusterProcess';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';

// The spine, end to end: a real cluster process (gateway + 3 forked nodes) driven by real ws clients.
describe('spine: cluster script, gateway, node actors, timelines', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  const clients: TestClient[] = [];
  let seq = 0;
  const eid = () => `ev-${++seq}`;

  async function connect(user: string, role: 'user' | 'producer' | 'admin' = 'user', opts: { binary?: boolean } = {}) {
    const c = await TestClient.connect(cluster.info.ws, data.token(user, role), opts);
    clients.push(c);
    return c;
  }

  async function subscriber(user: string, since?: number, opts: { binary?: boolean } = {}) {
    const c = await connect(user, 'user', opts);
    c.send(since === undefined ? { op: 'subscribe' } : { op: 'subscribe', since });
    await c.waitFor((m) => m.op === 'subscribed');
    return c;
  }

  async function publish(c: TestClient, events: object[]) {
    const reply = await c.request({ op: 'publish', id: eid(), events });
    expect(reply).toMatchObject({ op: 'ack', accepted: events.length });
    return reply;
  }

  const http = (path: string, init: RequestInit & { token?: string } = {}) =>
    fetch(cluster.info.http + path, {
      ...init,
      headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.headers ?? {}) },
    });

  beforeAll(async () => {
    cluster = await data.startCluster();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  it('prints URLs, a demo token and one pid per node, and answers healthz', async () => {
    expect(Object.keys(cluster.info.nodes)).toEqual(['node-1', 'node-2', 'node-3']);
    for (const pid of Object.values(cluster.info.nodes)) expect(isAlive(pid)).toBe(true);
    const demo = await TestClient.connect(cluster.info.ws, cluster.info.demoToken);
    clients.push(demo);
    const res = await http('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    const detail = await (await http('/healthz', { token: data.token('ops', 'admin') })).json();
    expect(Object.keys(detail.nodes)).toHaveLength(3);
  });

  it('follow delivers a live "followed you" notification; unfollow removes the edge silently', async () => {
    const bob = await subscriber('bob');
    const alice = await connect('alice');
    await publish(alice, [{ id: 'f1', type: 'follow', actor: 'alice', target: 'bob' }]);
    const [n] = await bob.waitNotifications(1);
    expect(n).toMatchObject({ offset: 1, type: 'follow', actors: ['alice'], eventIds: ['f1'], text: 'alice followed you' });
    await publish(alice, [{ id: 'f2', type: 'unfollow', actor: 'alice', target: 'bob' }]);
    await publish(alice, [{ id: 'f3', type: 'follow', actor: 'alice', target: 'bob' }]);
    const all = await bob.waitNotifications(2);
    expect(all.map((x) => x.eventIds[0])).toEqual(['f1', 'f3']);
    expect(all[1].offset).toBe(2);
  });

  it('like, retweet, reply and mention each notify the right users, across nodes', async () => {
    const [author, fan, other] = data.usersOnDistinctNodes('x', 3);
    expect(new Set([author, fan, other].map((u) => data.ownerOf(u))).size).toBe(3);
    const authorSub = await subscriber(author);
    const otherSub = await subscriber(other);
    const producer = await connect('svc', 'producer');
    const tweet = { id: 'tw1', author, text: 'hello' };
    await publish(producer, [
      { id: 'l1', type: 'like', actor: fan, tweet },
      { id: 'r1', type: 'retweet', actor: fan, tweet },
      { id: 'p1', type: 'reply', actor: fan, tweet: { ...tweet, text: 'nice one' } },
      { id: 'm1', type: 'mention', actor: fan, tweet: { id: 'tw2', author: fan, text: `hey @${other} @${author}`, mentions: [other, author] } },
    ]);
    const got = await authorSub.waitNotifications(4);
    expect(got.map((n) => [n.offset, n.type, n.actors[0]])).toEqual([
      [1, 'like', fan],
      [2, 'retweet', fan],
      [3, 'reply', fan],
      [4, 'mention', fan],
    ]);
    expect(got[0].tweetId).toBe('tw1');
    const [m] = await otherSub.waitNotifications(1);
    expect(m).toMatchObject({ offset: 1, type: 'mention', tweetId: 'tw2' });
    // A tweet with mentions notifies the mentioned users, not the author.
    const fanSub = await subscriber(fan);
    await publish(producer, [{ id: 't1', type: 'tweet', actor: fan, tweet: { id: 'tw3', author: fan, text: `@${other}`, mentions: [other, fan] } }]);
    await otherSub.waitNotifications(2);
    // A later event for fan is delivered after anything the tweet made for fan: only that one arrives.
    await publish(producer, [{ id: 'f-after', type: 'follow', actor: other, target: fan }]);
    await fanSub.waitFor((m) => m.op === 'notification');
    expect(fanSub.notifications().map((n) => n.eventIds)).toEqual([['f-after']]);
  });

  it('pages the timeline newest first, counts unread and moves the read marker', async () => {
    const carol = await connect('carol');
    const producer = await connect('svc2', 'producer');
    await publish(
      producer,
      Array.from({ length: 25 }, (_, i) => ({ id: `pg${i}`, type: 'follow', actor: `fan${i}`, target: 'carol' })),
    );
    const p1 = await carol.request({ op: 'timeline', id: 'tl1' });
    expect(p1.items.map((n: any) => n.offset)).toEqual(Array.from({ length: 20 }, (_, i) => 25 - i));
    expect(p1.next).toBe(6);
    expect(p1.unread).toBe(25);
    const p2 = await carol.request({ op: 'timeline', id: 'tl2', before: p1.next, limit: 100 });
    expect(p2.items.map((n: any) => n.offset)).toEqual([5, 4, 3, 2, 1]);
    expect(p2.next).toBeUndefined();
    expect(await carol.request({ op: 'read', id: 'rd1', upTo: 20 })).toMatchObject({ op: 'ack', unread: 5 });
    expect(await carol.request({ op: 'read', id: 'rd2', upTo: 3 })).toMatchObject({ op: 'ack', unread: 5 });
    expect(await carol.request({ op: 'read', id: 'rd3', upTo: 999 })).toMatchObject({ op: 'ack', unread: 0 });
    // The same over HTTP, with the owner's token; another user's token is refused.
    const res = await http('/v1/users/carol/timeline?limit=3&before=10', { token: data.token('carol') });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.items.map((n: any) => n.offset)).toEqual([9, 8, 7]);
    expect(body.next).toBe(7);
    const denied = await http('/v1/users/carol/timeline', { token: data.token('mallory') });
    expect(denied.status).toBe(403);
    expect((await denied.json()).code).toBe('HERALD_FORBIDDEN');
  });

  it('subscribe with since replays exactly the missed entries, in order, then goes live', async () => {
    const producer = await connect('svc3', 'producer');
    await publish(
      producer,
      Array.from({ length: 8 }, (_, i) => ({ id: `s${i}`, type: 'follow', actor: `f${i}`, target: 'dave' })),
    );
    const dave = await subscriber('dave', 5);
    expect(dave.received.find((m) => m.op === 'subscribed')).toMatchObject({ offset: 8, unread: 8 });
    const replayed = await dave.waitNotifications(3);
    expect(replayed.map((n) => n.offset)).toEqual([6, 7, 8]);
    await publish(producer, [{ id: 's8', type: 'follow', actor: 'f8', target: 'dave' }]);
    const all = await dave.waitNotifications(4);
    expect(all.map((n) => n.offset)).toEqual([6, 7, 8, 9]);
  });

  it('round-trips emoji and non-Latin text over JSON and msgpack frames', async () => {
    const text = 'héllo 🌍👩‍👩‍👧 世界 مرحبا Привет';
    const json = await subscriber('erin');
    const bin = await subscriber('frank', undefined, { binary: true });
    const producer = await connect('svc4', 'producer', { binary: true });
    await publish(producer, [{ id: 'u1', type: 'mention', actor: 'zoe', tweet: { id: 'tw9', author: 'zoe', text, mentions: ['erin', 'frank'] } }]);
    expect((await json.waitNotifications(1))[0].text).toBe(`zoe mentioned you: ${text}`);
    expect((await bin.waitNotifications(1))[0].text).toBe(`zoe mentioned you: ${text}`);
    const res = await http('/v1/events', {
      method: 'POST',
      token: data.token('svc4', 'producer'),
      headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' },
      body: Buffer.from(encode({ events: [{ id: 'u2', type: 'like', actor: 'zoe', tweet: { id: 'tw10', author: 'erin', text } }] })),
    });
    expect(res.status).toBe(200);
    expect(decode(new Uint8Array(await res.arrayBuffer()))).toEqual({ accepted: 1 });
    expect((await json.waitNotifications(2))[1].text).toBe(`zoe liked your tweet: ${text}`);
  });

  it('refuses a missing or forged token with 401 before the handshake', async () => {
    await expect(TestClient.connect(cluster.info.ws, undefined)).rejects.toMatchObject({ status: 401 });
    const forged = data.token('bob').replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    await expect(TestClient.connect(cluster.info.ws, forged)).rejects.toMatchObject({ status: 401 });
    await expect(TestClient.connect(cluster.info.ws, data.token('bob', 'user', -10))).rejects.toMatchObject({ status: 401 });
    const res = await http('/v1/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"events":[]}' });
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe('HERALD_UNAUTHORIZED');
  });

  it('answers bad input with stable codes and keeps the connection working', async () => {
    const mallory = await connect('mallory');
    const expectError = async (raw: string | Buffer, code: string) => {
      const before = mallory.received.length;
      mallory.sendRaw(raw);
      await mallory.waitFor((m) => m.op === 'error' && mallory.received.indexOf(m) >= before);
      expect(mallory.received.slice(before).find((m) => m.op === 'error')!.code).toBe(code);
    };
    const asOther = { op: 'publish', id: 'x1', events: [{ id: 'e', type: 'follow', actor: 'bob', target: 'mallory' }] };
    expect(await mallory.request(asOther)).toMatchObject({ op: 'error', id: 'x1', code: 'HERALD_FORBIDDEN' });
    await expectError('{not json', 'HERALD_BAD_FRAME');
    await expectError(Buffer.from([0xc1, 0xff, 0x00]), 'HERALD_BAD_FRAME');
    await expectError(JSON.stringify({ op: 'fly' }), 'HERALD_UNKNOWN_OP');
    await expectError(JSON.stringify([1, 2]), 'HERALD_INVALID_MESSAGE');
    await expectError(
      JSON.stringify({ op: 'publish', id: 'x2', events: [{ id: 'e', type: 'follow', actor: 'bad user!', target: 'x' }] }),
      'HERALD_INVALID_MESSAGE',
    );
    await expectError(JSON.stringify({ op: 'publish', id: 'x3', events: [{ id: 'e', type: 'follow', actor: 'mallory' }] }), 'HERALD_INVALID_EVENT');
    await expectError(JSON.stringify({ op: 'timeline', id: 'x4', limit: 1000 }), 'HERALD_INVALID_MESSAGE');
    // Still served after all of it.
    expect(await mallory.request({ op: 'timeline', id: 'ok1' })).toMatchObject({ op: 'timeline', items: [] });
    expect(mallory.closed).toBeUndefined();
  });

  it('a producer retrying the same event id gets acked again and makes one entry', async () => {
    const producer = await connect('svc5', 'producer');
    const ev = { id: 'retry-1', type: 'follow', actor: 'gus', target: 'hana' };
    await publish(producer, [ev]);
    await publish(producer, [ev]);
    const res = await http('/v1/events', {
      method: 'POST',
      token: data.token('svc5', 'producer'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [ev] }),
    });
    expect(await res.json()).toEqual({ accepted: 1 });
    const hana = await connect('hana');
    const page = await hana.request({ op: 'timeline', id: 'h1' });
    expect(page.items).toHaveLength(1);
  });

  it('keeps timelines and offsets across a restart on the same data', async () => {
    const before = await (await http('/v1/users/carol/timeline?limit=100', { token: data.token('carol') })).json();
    const pids = Object.values(cluster.info.nodes);
    expect(await cluster.stop('SIGTERM')).toBe(0);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    cluster = await data.startCluster();
    const after = await (await http('/v1/users/carol/timeline?limit=100', { token: data.token('carol') })).json();
    expect(after).toEqual(before);
    const producer = await connect('svc6', 'producer');
    await publish(producer, [{ id: 'after-restart', type: 'follow', actor: 'ivan', target: 'carol' }]);
    const carol = await connect('carol');
    const page = await carol.request({ op: 'timeline', id: 'c1', limit: 1 });
    expect(page.items[0]).toMatchObject({ offset: 26, eventIds: ['after-restart'] });
  });
});
