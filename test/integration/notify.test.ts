import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';
import { ProviderServer } from '../unit/actors/delivery/channels/ProviderServer';
import { SmtpSink } from '../unit/actors/delivery/channels/SmtpSink';

// Notification infrastructure with real parts: a local HTTP server as the push/SMS provider, a real SMTP server.
describe('channels, queues, preferences, fatigue, aggregation', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  let push: ProviderServer;
  let sms: ProviderServer;
  let smtp: SmtpSink;
  let producer: TestClient;
  const clients: TestClient[] = [];
  let n = 0;
  const admin = () => data.token('ops', 'admin');
  const pushesTo = (token: string) => push.requests.filter((r) => r.signed && JSON.parse(r.body).to === token);

  const settings = async (user: string, body: object) => {
    const res = await fetch(`${cluster.info.http}/v1/users/${user}/settings`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${data.token(user)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()).settings;
  };
  const publish = async (events: object[]) => expect(await producer.request({ op: 'publish', id: `p${++n}`, events })).toMatchObject({ op: 'ack' });
  const follow = (actor: string, target: string) => ({ id: `f-${++n}`, type: 'follow', actor, target });
  /**
   * A push queued after everything `user`'s node queued so far, to another user of that node: once it is sent,
   * any push queued before it (same queue, same priority, due earlier) has been sent too.
   */
  const pushAfter = async (user: string) => {
    const node = data.ownerOf(user);
    let neighbour = '';
    for (let i = 0; !neighbour; i++) if (data.ownerOf(`${user}-nb${i}`) === node) neighbour = `${user}-nb${i}`;
    await settings(neighbour, { devices: { push: [`tok-${neighbour}`] } });
    await publish([follow('marker', neighbour)]);
    await waitFor(`a later push from ${user}'s node`, () => pushesTo(`tok-${neighbour}`).length === 1);
  };

  beforeAll(async () => {
    push = await ProviderServer.start('push-secret-0123456789');
    sms = await ProviderServer.start('sms-secret-0123456789');
    smtp = await SmtpSink.start();
    cluster = await data.startCluster([], {
      channels: {
        push: { url: push.url, secret: push.secret, timeoutMs: 1000 },
        sms: { url: sms.url, secret: sms.secret, timeoutMs: 1000 },
        email: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'herald <noreply@herald.test>' },
      },
      pushCap: { max: 5, windowMs: 24 * 3600_000, minGapMs: 0 },
      sender: { concurrency: 2, maxAttempts: 3, baseBackoffMs: 20, maxBackoffMs: 100 },
    });
    producer = await TestClient.connect(cluster.info.ws, data.token('svc', 'producer'));
    clients.push(producer);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    await Promise.all([push?.stop(), sms?.stop(), smtp?.stop()]);
    data.remove();
  });

  it("sends on the channels a user wants, with templates in the user's locale, and not on those turned off", async () => {
    await settings('ana', {
      locale: 'fr',
      devices: { push: ['tok-ana'], email: 'ana@example.test', sms: '+33612345678' },
      channels: { follow: { push: false, email: true, sms: true } },
    });
    await publish([follow('bruno', 'ana')]);
    const mail = await waitFor('email', () => smtp.received.find((m) => m.envelope.to.includes('ana@example.test')));
    expect(mail.parsed.subject).toMatch(/bruno/);
    const text = await waitFor('sms', () => sms.requests.find((r) => JSON.parse(r.body).to === '+33612345678'));
    expect(text.signed).toBe(true);
    await pushAfter('ana');
    expect(pushesTo('tok-ana')).toEqual([]);
  });

  it('defers push during quiet hours, then sends it', async () => {
    const now = new Date();
    const hhmmss = (d: Date) => d.toISOString().slice(11, 19);
    await settings('cleo', {
      tz: 'UTC',
      devices: { push: ['tok-cleo'] },
      quietHours: { start: hhmmss(new Date(now.getTime() - 60_000)), end: hhmmss(new Date(now.getTime() + 2500)) },
    });
    const sent = Date.now();
    await publish([follow('dan', 'cleo')]);
    // Sent only once quiet hours end (~2.5 s from now): a push sent at once would be seen here well before 1.5 s.
    await waitFor('deferred push', () => pushesTo('tok-cleo').length === 1, 10_000);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(1500);
  });

  it('caps pushes: the 6th in 24 h is not sent, and the timeline still has all 6', async () => {
    await settings('eve', { devices: { push: ['tok-eve'] } });
    await publish(Array.from({ length: 6 }, (_, i) => follow(`fan${i}`, 'eve')));
    await waitFor('5 pushes', () => pushesTo('tok-eve').length === 5);
    await pushAfter('eve');
    expect(pushesTo('tok-eve')).toHaveLength(5);
    const eve = await TestClient.connect(cluster.info.ws, data.token('eve'));
    clients.push(eve);
    expect((await eve.request({ op: 'timeline', id: 't' })).items).toHaveLength(6);
  });

  it('retries a failing provider, buries the send as a dead letter, replays it; in-app latency is unaffected', async () => {
    await settings('finn', { devices: { push: ['tok-finn'] } });
    const finn = await TestClient.connect(cluster.info.ws, data.token('finn'));
    clients.push(finn);
    finn.send({ op: 'subscribe' });
    await finn.waitFor((m) => m.op === 'subscribed');
    push.mode = 'fail';
    const sent = Date.now();
    await publish([follow('gus', 'finn')]);
    await finn.waitNotifications(1);
    expect(Date.now() - sent).toBeLessThan(500);
    const letters = async () =>
      ((await (await fetch(`${cluster.info.http}/v1/admin/dead-letters`, { headers: { authorization: `Bearer ${admin()}` } })).json()).nodes as any[]).flatMap(
        (x) => x.letters,
      );
    const letter = await waitFor("finn's dead letter", async () => (await letters()).find((l) => l.job.to === 'tok-finn'));
    expect(letter).toMatchObject({ job: { channel: 'push', user: 'finn', attempts: 3 } });
    expect(pushesTo('tok-finn').length).toBe(3);
    push.mode = 'ok';
    const res = await fetch(`${cluster.info.http}/v1/admin/dead-letters/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [letter.id] }),
    });
    expect(res.status).toBe(200);
    await waitFor('replayed push', () => pushesTo('tok-finn').length === 4);
    expect((await letters()).some((l) => l.id === letter.id)).toBe(false);
  });

  it('collapses 40 likes on one tweet into one entry with count 40, and a retried like never counts twice', async () => {
    const likes = Array.from({ length: 40 }, (_, i) => ({
      id: `like-${i}`,
      type: 'like',
      actor: `liker${i}`,
      tweet: { id: 'hot-1', author: 'hana', text: 'my tweet' },
    }));
    await publish(likes.slice(0, 25));
    await publish(likes.slice(20, 40)); // 20..24 again: retries
    const hana = await TestClient.connect(cluster.info.ws, data.token('hana'));
    clients.push(hana);
    const page = await hana.request({ op: 'timeline', id: 't' });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ type: 'like', tweetId: 'hot-1', count: 40, offset: 40, replaces: 39, actors: expect.arrayContaining(['liker39']) });
    expect(page.items[0].text).toBe('liker39 and 39 others liked your tweet: my tweet');
    expect(page.unread).toBe(1); // one visible entry: the superseded ones were removed and count for nothing
    // A resume replays every offset (gap-free): superseded ones as stand-ins, then the entry that superseded them.
    hana.send({ op: 'subscribe', since: 37 });
    const replay = await hana.waitNotifications(3);
    expect(replay.map((x) => [x.offset, x.type, x.eventIds.length])).toEqual([
      [38, 'superseded', 0],
      [39, 'superseded', 0],
      [40, 'like', 40],
    ]);
  });
});
