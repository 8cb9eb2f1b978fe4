import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../scripts/ClusterProcess';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';

// Personalized fanout on the real cluster: the seeds' example, followers on every node, a restart mid-fanout.
describe('personalized fanout', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  let producer: TestClient;
  const clients: TestClient[] = [];
  let n = 0;
  const admin = () => data.token('ops', 'admin');

  const publish = async (events: object[]) => {
    for (let i = 0; i < events.length; i += 400) {
      const reply = await producer.request({ op: 'publish', id: `p${++n}`, events: events.slice(i, i + 400) });
      expect(reply.op).toBe('ack');
    }
  };
  const follow = (actor: string, target: string) => ({ id: `fol-${actor}-${target}`, type: 'follow', actor, target });
  const like = (actor: string, author: string, entities: string[] = []) => ({
    id: `like-${++n}`,
    type: 'like',
    actor,
    tweet: { id: `tw-${n}`, author, entities },
  });
  const get = async (path: string) => {
    const res = await fetch(cluster.info.http + path, { headers: { authorization: `Bearer ${admin()}` } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const timeline = async (user: string) => (await get(`/v1/users/${user}/timeline?limit=100`)).body.items as any[];
  const stats = async () => (await get('/v1/admin/stats')).body;
  // `running` too: a respawned node scans for its jobs before one is `active` again.
  const waitFanoutDone = (timeoutMs = 30_000) =>
    waitFor('fanout done on every node', stats, (s) => s.nodes.every((x: any) => x.fanout && x.fanout.active === '' && !x.fanout.running), timeoutMs);

  beforeAll(async () => {
    cluster = await data.startCluster([], { fanoutPageSize: 100 });
    producer = await TestClient.connect(cluster.info.ws, data.token('svc', 'producer'));
    clients.push(producer);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  it('notifies the followers who care, with the reason, and explains each decision', async () => {
    const katy = 'katy';
    // followerB: Katy in its Top-N at rank 10 (9 followings it engages with more), engaged with moonlight.
    const others = Array.from({ length: 29 }, (_, i) => `star${i}`);
    await publish([...others.slice(0, 9).map((o) => follow('followerB', o)), follow('followerB', katy)]);
    await publish([...others.slice(0, 9).map((o) => like('followerB', o)), like('followerB', 'somebody', ['Moonlight'])]);
    // followerA: Katy only at rank 30 (29 followings with more affinity), engaged with lalaland.
    await publish([...others.map((o) => follow('followerA', o)), follow('followerA', katy)]);
    await publish([...others.map((o) => like('followerA', o)), like('followerA', 'somebody', ['lalaland'])]);
    // followerC: Katy in its top 5, no matching entity.
    await publish([follow('followerC', katy)]);
    // Plain followers until every node has some: rank 1 each, so notified.
    const plain = Array.from({ length: 60 }, (_, i) => `fan${i}`);
    await publish(plain.map((f) => follow(f, katy)));
    expect(new Set(plain.map((f) => data.ownerOf(f))).size).toBe(3);

    const sub = await TestClient.connect(cluster.info.ws, data.token('followerB'));
    clients.push(sub);
    sub.send({ op: 'subscribe' });
    await sub.waitFor((m) => m.op === 'subscribed');
    // A follower on the author's own node: its batch is decided there, not relayed, and must reach it live too.
    const neighbour = plain.find((f) => data.ownerOf(f) === data.ownerOf(katy))!;
    const local = await TestClient.connect(cluster.info.ws, data.token(neighbour));
    clients.push(local);
    local.send({ op: 'subscribe' });
    await local.waitFor((m) => m.op === 'subscribed');
    const before = await stats();
    await publish([
      { id: 'katy-tweet-1', type: 'tweet', actor: katy, tweet: { id: 'kt1', author: katy, text: 'I wanted moonlight 🌙', entities: ['moonlight'] } },
    ]);
    const [live] = await sub.waitNotifications(1);
    expect(live).toMatchObject({ type: 'tweet', actors: [katy], tweetId: 'kt1', reason: 'top-following+entity:moonlight' });
    expect((await local.waitNotifications(1))[0]).toMatchObject({ type: 'tweet', tweetId: 'kt1', reason: 'top-5-following' });
    const after = await waitFanoutDone();

    const tweetsOf = async (u: string) => (await timeline(u)).filter((x) => x.tweetId === 'kt1');
    expect(await tweetsOf('followerB')).toHaveLength(1);
    expect(await tweetsOf('followerA')).toHaveLength(0);
    expect((await tweetsOf('followerC'))[0]).toMatchObject({ reason: 'top-5-following' });
    for (const f of plain) expect(await tweetsOf(f)).toHaveLength(1);

    // No per-follower remote request: 63 followers fit one page, so one batch went to each other node, straight
    // from the author's node over its links (counted by the nodes, on both ends), not through the gateway.
    const fanoutBatches = (s: any, way: 'sent' | 'received') =>
      s.nodes.reduce(
        (sum: number, n: any) =>
          sum + Object.values(n.links[way] as Record<string, Record<string, number>>).reduce((a, byOp) => a + (byOp.fanoutBatch ?? 0), 0),
        0,
      );
    expect(fanoutBatches(after, 'sent') - fanoutBatches(before, 'sent')).toBe(2);
    expect(fanoutBatches(after, 'received') - fanoutBatches(before, 'received')).toBe(2);
    const authorNode = after.nodes.find((x: any) => x.nodeId === data.ownerOf(katy));
    expect(
      Object.keys(authorNode.links.sent)
        .filter((peer) => authorNode.links.sent[peer].fanoutBatch)
        .sort(),
    ).toEqual(
      Object.keys(cluster.info.nodes)
        .filter((id) => id !== authorNode.nodeId)
        .sort(),
    );

    const why = await get('/v1/explain?user=followerA&tweet=kt1');
    expect(why.status).toBe(200);
    expect(why.body).toMatchObject({ user: 'followerA', author: katy, notified: false, decisionNow: { notify: false, rank: 30, matchingEntities: [] } });
    const whyB = await get('/v1/explain?user=followerB&tweet=kt1');
    expect(whyB.body).toMatchObject({ notified: true, decisionNow: { notify: true, rank: 10, matchingEntities: ['moonlight'] } });
    const denied = await fetch(`${cluster.info.http}/v1/explain?user=followerA&tweet=kt1`, { headers: { authorization: `Bearer ${data.token('followerB')}` } });
    expect(denied.status).toBe(403);
  });

  it('resumes a fanout after its node is killed mid-way: every follower notified exactly once', async () => {
    const author = 'celeb';
    const followers = Array.from({ length: 3000 }, (_, i) => `c${i}`);
    await publish(followers.map((f) => follow(f, author)));
    const owner = data.ownerOf(author);
    await publish([{ id: 'celeb-tweet', type: 'tweet', actor: author, tweet: { id: 'ct1', author, text: 'big news', entities: [] } }]);
    // Kill the author's node once the fanout is under way.
    const busy = await waitFor(
      'the fanout under way on its node',
      async () => (await stats()).nodes.find((x: any) => x.nodeId === owner),
      (node) => node?.fanout?.followers > 0 && !!node.fanout.active,
      20_000,
    );
    const killed = busy.pid as number;
    process.kill(killed, 'SIGKILL');
    await waitFor(`killed node pid ${killed} gone`, () => !isAlive(killed));
    // The respawned node has started (and so kicked its runner, `running`) before it answers for its new pid.
    await waitFor(
      "the author's node respawned",
      async () => (await stats()).nodes.find((x: any) => x.nodeId === owner),
      (node) => !!node?.fanout && node.pid !== killed,
      20_000,
    );
    await waitFanoutDone();
    let missing = 0;
    let twice = 0;
    for (let i = 0; i < followers.length; i += 50) {
      const counts = await Promise.all(followers.slice(i, i + 50).map(async (f) => (await timeline(f)).filter((x) => x.tweetId === 'ct1').length));
      missing += counts.filter((c) => c === 0).length;
      twice += counts.filter((c) => c > 1).length;
    }
    expect({ missing, twice }).toEqual({ missing: 0, twice: 0 });
  });
});
