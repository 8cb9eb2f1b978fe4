import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../scripts/ClusterProcess';
import { shardOf } from '../../storage/Keyspace';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';

/**
 * Presence on the owner nodes, on a real cluster: a node sends the gateway the fanout notifications of subscribed
 * users only, and no subscriber misses one live: on every node, across a disconnect, a node killed and respawned,
 * and a shard moved to another node.
 */
describe('presence on the owner nodes', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  let producer: TestClient;
  const clients: TestClient[] = [];
  const author = 'star';
  let live: string[] = [];
  const quiet = Array.from({ length: 30 }, (_, i) => `quiet${i}`);
  const subs = new Map<string, TestClient>();
  let n = 0;

  const api = (method: string, path: string, body?: object) => data.admin(cluster.info.http, method, path, body);
  const publish = async (events: object[]) => {
    const reply = await producer.request({ op: 'publish', id: `p${++n}`, events });
    expect(reply.op).toBe('ack');
  };
  const tweet = (id: string) => publish([{ id: `e-${id}`, type: 'tweet', actor: author, tweet: { id, author, text: id, entities: [] } }]);
  const stats = async () => (await api('GET', '/v1/admin/stats')).body;
  const nodeStats = async (id: string) => (await stats()).nodes.find((x: any) => x.nodeId === id);
  const table = async () => (await api('GET', '/v1/admin/status')).body;
  const until = <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean) => waitFor(what, get, ok, 15_000);
  const fanoutDone = () => until('fanout done', stats, (s) => s.nodes.every((x: any) => x.fanout && x.fanout.active === '' && !x.fanout.running));
  const subscribe = async (user: string, since?: number) => {
    const c = await TestClient.connect(cluster.info.ws, data.token(user));
    clients.push(c);
    subs.set(user, c);
    await c.request({ op: 'subscribe', id: `s-${user}-${++n}`, ...(since !== undefined ? { since } : {}) });
    return c;
  };
  const liveTweet = (user: string, id: string) => subs.get(user)!.waitFor((m) => m.op === 'notification' && m.notification.tweetId === id, 10_000);
  const counted = (s: any) => {
    const sum = (k: string) => s.nodes.reduce((a: number, x: any) => a + x.presence[k], 0);
    return { sent: sum('presenceLiveSent'), skipped: sum('presenceAbsentSkipped') };
  };

  beforeAll(async () => {
    cluster = await data.startCluster();
    producer = await TestClient.connect(cluster.info.ws, data.token('svc', 'producer'));
    clients.push(producer);
    live = data.usersOnDistinctNodes('live', 3);
    await publish([...live, ...quiet].map((f) => ({ id: `fol-${f}`, type: 'follow', actor: f, target: author })));
    expect(new Set(quiet.map((f) => data.ownerOf(f))).size).toBe(3);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  it("sends the gateway only subscribed followers' fanout notifications; each gets its own live, on every node", async () => {
    for (const u of live) await subscribe(u);
    const s = await until('presence stated', stats, (x) =>
      x.nodes.every((node: any) => node.presence.users === 1 && node.presence.knownShards === node.shards),
    );
    const before = counted(s);
    await tweet('t1');
    for (const u of live) await liveTweet(u, 't1');
    const after = counted(await fanoutDone());
    // 33 chosen followers (rank 1 each): 3 subscribed sent to the gateway, 30 not.
    expect({ sent: after.sent - before.sent, skipped: after.skipped - before.skipped }).toEqual({ sent: 3, skipped: 30 });
    const timeline = (await api('GET', `/v1/users/${quiet[0]}/timeline?limit=10`)).body.items;
    expect(timeline.filter((x: any) => x.tweetId === 't1')).toHaveLength(1);
  });

  it('forgets a subscriber that leaves, and it gets the next tweet live once it is back', async () => {
    const user = live[0];
    const node = data.ownerOf(user);
    const last = subs.get(user)!.notifications().at(-1)!.offset as number;
    subs.get(user)!.close();
    await until(
      'absent',
      () => nodeStats(node),
      (x) => x.presence.users === 0,
    );
    await tweet('t2');
    await fanoutDone();
    const back = await subscribe(user, last);
    // The missed tweet comes in the replay, the next one live.
    await liveTweet(user, 't2');
    await until(
      'present',
      () => nodeStats(node),
      (x) => x.presence.users === 1,
    );
    await tweet('t3');
    await liveTweet(user, 't3');
    expect(back.notifications().map((x) => x.tweetId)).toEqual(['t2', 't3']);
  });

  it('a node killed and respawned is told its subscribed users again; they get the next tweet live', async () => {
    const user = live[1];
    const node = data.ownerOf(user);
    const pid = (await nodeStats(node)).pid as number;
    process.kill(pid, 'SIGKILL');
    await waitFor(`killed node pid ${pid} gone`, () => !isAlive(pid));
    await until(
      'respawned and stated',
      () => nodeStats(node),
      (x) => !!x.presence && x.pid !== pid && x.presence.users === 1 && x.presence.knownShards === x.shards,
    );
    await tweet('t4');
    await liveTweet(user, 't4');
    await fanoutDone();
  });

  it('a shard moved to another node brings its presence there; its subscribed user gets the next tweet live', async () => {
    const user = live[2];
    const from = data.ownerOf(user);
    const to = live.map((u) => data.ownerOf(u)).find((x) => x !== from)!;
    const shard = shardOf(user, (await table()).shardCount);
    const [fromBefore, toBefore] = [await nodeStats(from), await nodeStats(to)];
    expect((await api('POST', `/v1/admin/shards/${shard}/move`, { node: to })).status).toBe(202);
    await until('moved', table, (s) => s.operation?.state === 'done');
    expect(data.ownerOf(user)).toBe(to);
    const [fromAfter, toAfter] = [await nodeStats(from), await nodeStats(to)];
    expect(fromAfter.presence.users).toBe(fromBefore.presence.users - 1);
    expect(toAfter.presence.users).toBe(toBefore.presence.users + 1);
    expect(toAfter.presence.knownShards).toBe(toAfter.shards);
    await tweet('t5');
    await liveTweet(user, 't5');
    const s = await fanoutDone();
    // Subscribed now: live[0] (back), live[1], live[2]; nobody else's notification went to the gateway.
    expect(s.nodes.reduce((a: number, x: any) => a + x.presence.users, 0)).toBe(3);
  });
});
