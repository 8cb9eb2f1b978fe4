import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';

// Delivery guarantees at the edge: resume with since/epoch, retention, slow consumers.
describe('delivery: resume, retention, slow consumers', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  const clients: TestClient[] = [];

  const connect = async (user: string, role: 'user' | 'producer' = 'user') => {
    const c = await TestClient.connect(cluster.info.ws, data.token(user, role));
    clients.push(c);
    return c;
  };
  const follows = (target: string, from: number, n: number, prefix = 'f') =>
    Array.from({ length: n }, (_, i) => ({ id: `${prefix}${target}-${from + i}`, type: 'follow', actor: `${prefix}${from + i}`, target }));

  beforeAll(async () => {
    // Short node-call deadline and a long liveness timeout: a paused node outlives the publish's deadline.
    cluster = await data.startCluster([], { timelineMax: 10, maxBufferedBytes: 64 * 1024, callTimeoutMs: 1000, livenessTimeoutMs: 60_000 });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  it('resumes with since and epoch: recovered entries in order, then live', async () => {
    const producer = await connect('svc', 'producer');
    await producer.request({ op: 'publish', id: 'p1', events: follows('amy', 1, 4) });
    const first = await connect('amy');
    first.send({ op: 'subscribe', since: 0 });
    const sub1 = await first.waitFor((m) => m.op === 'subscribed');
    expect(sub1).toMatchObject({ offset: 4, recovered: true });
    expect(typeof sub1.epoch).toBe('string');
    await first.waitNotifications(4);
    first.close();
    await producer.request({ op: 'publish', id: 'p2', events: follows('amy', 5, 3) });
    const again = await connect('amy');
    again.send({ op: 'subscribe', since: 4, epoch: sub1.epoch });
    expect(await again.waitFor((m) => m.op === 'subscribed')).toMatchObject({ offset: 7, recovered: true, epoch: sub1.epoch });
    expect((await again.waitNotifications(3)).map((n) => n.offset)).toEqual([5, 6, 7]);
  });

  it('answers recovered:false, with no replay, for another epoch or entries past retention', async () => {
    const producer = await connect('svc2', 'producer');
    await producer.request({ op: 'publish', id: 'p3', events: follows('ben', 1, 15) });
    const wrongEpoch = await connect('ben');
    wrongEpoch.send({ op: 'subscribe', since: 12, epoch: 'not-the-epoch' });
    expect(await wrongEpoch.waitFor((m) => m.op === 'subscribed')).toMatchObject({ offset: 15, recovered: false });
    // Retention keeps the newest 10 (6..15): resuming after 2 would skip 3..5.
    const tooOld = await connect('ben');
    tooOld.send({ op: 'subscribe', since: 2 });
    const sub = await tooOld.waitFor((m) => m.op === 'subscribed');
    expect(sub).toMatchObject({ offset: 15, recovered: false });
    const page = await tooOld.request({ op: 'timeline', id: 't', limit: 100 });
    expect(page.items.map((n: any) => n.offset)).toEqual([15, 14, 13, 12, 11, 10, 9, 8, 7, 6]);
    // Within retention it recovers.
    const ok = await connect('ben');
    ok.send({ op: 'subscribe', since: 5, epoch: sub.epoch });
    expect(await ok.waitFor((m) => m.op === 'subscribed')).toMatchObject({ recovered: true });
    expect((await ok.waitNotifications(10)).map((n) => n.offset)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    // A later entry reaches every live socket after any replay it would have had: none had one before it.
    await producer.request({ op: 'publish', id: 'p4', events: follows('ben', 16, 1) });
    for (const c of [wrongEpoch, tooOld]) {
      await c.waitFor((m) => m.op === 'notification' && m.notification.offset === 16);
      expect(c.notifications().map((n) => n.offset)).toEqual([16]);
    }
  });

  it('closes a reader that stops reading with 4008, and other users keep their latency', async () => {
    const slow = await connect('slowpoke');
    slow.send({ op: 'subscribe' });
    await slow.waitFor((m) => m.op === 'subscribed');
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const brisk = await connect('brisk');
    brisk.send({ op: 'subscribe' });
    await brisk.waitFor((m) => m.op === 'subscribed');
    const producer = await connect('svc3', 'producer');
    const text = 'x'.repeat(3900);
    // 2,000 notifications of ~4 KB: far more than the socket buffers and the 64 KiB cap.
    for (let b = 0; b < 200; b++) {
      const events = Array.from({ length: 10 }, (_, i) => ({
        id: `s${b}-${i}`,
        type: 'mention',
        actor: 'loud',
        tweet: { id: `t${b}-${i}`, author: 'loud', text, mentions: ['slowpoke'] },
      }));
      await producer.request({ op: 'publish', id: `flood${b}`, events });
    }
    const sent = Date.now();
    await producer.request({ op: 'publish', id: 'b1', events: [{ id: 'b1', type: 'follow', actor: 'loud', target: 'brisk' }] });
    await brisk.waitNotifications(1);
    expect(Date.now() - sent).toBeLessThan(1000);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await waitFor('the slow reader closed', () => slow.closed)).toEqual({ code: 4008, reason: 'HERALD_SLOW_CONSUMER' });
  });

  it('delivers live an entry whose first answer was lost (deadline passed), when the producer retries', async () => {
    const sub = await connect('gwen');
    sub.send({ op: 'subscribe' });
    await sub.waitFor((m) => m.op === 'subscribed');
    const producer = await connect('svc4', 'producer');
    const owner = data.ownerOf('gwen');
    const health = await (await fetch(`${cluster.info.http}/healthz`, { headers: { authorization: `Bearer ${data.token('ops', 'admin')}` } })).json();
    const pid = health.nodes[owner].pid as number;
    const like = { id: 'lost-answer', type: 'like', actor: 'hal', tweet: { id: 'tw-g', author: 'gwen' } };
    process.kill(pid, 'SIGSTOP');
    try {
      expect(await producer.request({ op: 'publish', id: 'try1', events: [like] })).toMatchObject({ op: 'error', code: 'HERALD_UNAVAILABLE' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The node applies the event after the gateway stopped waiting (gwen's timeline has it); the retry is then a
    // duplicate, and delivers it.
    const timeline = async () =>
      (await fetch(`${cluster.info.http}/v1/users/gwen/timeline`, { headers: { authorization: `Bearer ${data.token('gwen')}` } })).json();
    await waitFor('the first try applied', timeline, (t) => t.items?.some((n: { eventIds: string[] }) => n.eventIds.includes('lost-answer')));
    expect(await producer.request({ op: 'publish', id: 'try2', events: [like] })).toMatchObject({ op: 'ack' });
    const [n] = await sub.waitNotifications(1, 3000);
    expect(n).toMatchObject({ offset: 1, eventIds: ['lost-answer'] });
  });
});
