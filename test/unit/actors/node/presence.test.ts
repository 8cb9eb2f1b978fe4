import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { involvedUsers, type HeraldEvent } from '../../../../core/Event';
import type { FanoutBatch } from '../../../../core/Fanout';
import { NodeActor } from '../../../../actors/node/NodeActor';
import type { Delivery } from '../../../../core/nodeProtocol';
import { markOf, Presence } from '../../../../actors/node/Presence';
import { shardOf } from '../../../../storage/Keyspace';
import { createLogger } from '../../../../core/logger';
import { ev, nodeOptions, SHARDS, tempStore, tweet } from '../helpers';

const log = createLogger('test', 'silent');
const ALL = Array.from({ length: SHARDS }, (_, i) => i);
const delivery = (user: string) => ({ user, notification: { offset: 1 } }) as unknown as Delivery;

describe('Presence', () => {
  const owned = new Set(ALL);
  const presence = () =>
    new Presence(
      () => owned,
      (u) => shardOf(u, SHARDS),
    );
  const users = (ds: Delivery[]) => ds.map((d) => d.user);

  it('sends everything of a shard until its presence is stated, then only present users', () => {
    const p = presence();
    const ds = ['ann', 'bob', 'cid'].map(delivery);
    expect(users(p.live(ds))).toEqual(['ann', 'bob', 'cid']);
    p.mark('ann', shardOf('ann', SHARDS), 5);
    // Only ann's shard known: the others' shards still send everything.
    p.update({ known: [shardOf('ann', SHARDS)] }, SHARDS);
    const expected = ['ann', ...['bob', 'cid'].filter((u) => shardOf(u, SHARDS) !== shardOf('ann', SHARDS))];
    expect(users(p.live(ds))).toEqual(expected);
    p.update({ known: ALL }, SHARDS);
    expect(users(p.live(ds))).toEqual(['ann']);
    expect(p.stats()).toMatchObject({ users: 1, knownShards: SHARDS });
  });

  it("orders a user's marks and absences by seq: a stale absence or mark changes nothing", () => {
    const p = presence();
    p.update({ known: ALL }, SHARDS);
    const s = shardOf('ann', SHARDS);
    p.mark('ann', s, 7);
    p.update({ absent: [['ann', s, 6]] }, SHARDS);
    expect(users(p.live([delivery('ann')]))).toEqual(['ann']);
    p.update({ absent: [['ann', s, 7]] }, SHARDS);
    expect(p.live([delivery('ann')])).toEqual([]);
    p.update({ present: [['ann', s, 9]], absent: [['ann', s, 8]] }, SHARDS);
    expect(users(p.live([delivery('ann')]))).toEqual(['ann']);
    p.mark('ann', s, 3);
    p.update({ absent: [['ann', s, 8]] }, SHARDS);
    expect(users(p.live([delivery('ann')]))).toEqual(['ann']);
  });

  it('forgets a lost shard (unknown again, its users dropped) and keeps nothing of shards it does not own', () => {
    const mine = new Set([0, 1]);
    const p = new Presence(
      () => mine,
      () => 0,
    );
    p.update(
      {
        present: [
          ['ann', 0, 1],
          ['bob', 2, 1],
        ],
        known: [0, 1, 2],
      },
      SHARDS,
    );
    expect(p.stats()).toMatchObject({ users: 1, knownShards: 2 });
    p.forget(0);
    expect(p.stats()).toMatchObject({ users: 0, knownShards: 1 });
  });

  it('refuses malformed messages whole', () => {
    const p = presence();
    for (const bad of [
      null,
      { present: 'x' },
      { present: [['ann', 0]] },
      { present: [['', 0, 1]] },
      { absent: [['ann', SHARDS, 1]] },
      { absent: [['ann', 0, -1]] },
      { known: [1.5] },
      { known: 'all' },
    ]) {
      expect(() => p.update(bad as never, SHARDS)).toThrow(expect.objectContaining({ code: 'HERALD_INVALID_MESSAGE' }));
    }
    expect(p.stats().users).toBe(0);
    // The mark a subscribe's `since` read carries: absent, or a non-negative safe integer.
    expect(markOf(undefined)).toBeUndefined();
    expect(markOf(42)).toBe(42);
    for (const bad of [-1, 1.5, '7', {}, 2 ** 60]) expect(() => markOf(bad)).toThrow(expect.objectContaining({ code: 'HERALD_INVALID_MESSAGE' }));
  });
});

describe('NodeActor with presence', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  let node: NodeActor;
  const like = (actor: string, author: string) => ev('like', actor, { tweet: tweet(author), target: author });
  const ingest = (event: HeraldEvent) => node.ingest({ epoch: 1, items: [{ event, users: involvedUsers(event) }] });

  beforeEach(async () => {
    box = await tempStore();
    node = new NodeActor(box.store, nodeOptions(), log);
    await node.start();
    node.setTable(1, ALL);
    node.updatePresence({ known: ALL });
  });
  afterEach(async () => {
    await node.stop().catch(() => {});
    await box.dispose();
  });

  it('answers ingest and fanout batches with the deliveries of present users only, counting every notification', async () => {
    expect((await ingest(like('x', 'bob'))).deliveries).toEqual([]);
    await node.since('bob', 0, 10, 1);
    expect((await ingest(like('y', 'bob'))).deliveries.map((d) => d.user)).toEqual(['bob']);
    const t = ev('tweet', 'katy', { tweet: tweet('katy') });
    for (const f of ['fan', 'other']) await ingest(ev('follow', f, { target: 'katy' }));
    await node.since('fan', 0, 10, 2);
    const batch: FanoutBatch = { epoch: 1, event: t, followers: ['fan', 'other'], shards: ['fan', 'other'].map((f) => shardOf(f, SHARDS)) };
    const res = await node.fanoutBatch(batch);
    expect(res).toMatchObject({ decided: 2, notified: 2 });
    expect(res.deliveries.map((d) => d.user)).toEqual(['fan']);
    node.updatePresence({ absent: [['fan', shardOf('fan', SHARDS), 2]] });
    expect((await ingest(like('z', 'fan'))).deliveries).toEqual([]);
    expect(node.stats().presence).toMatchObject({ users: 1 });
  });

  it('a subscribe racing a notification gets it in its replay or live, at every interleaving', async () => {
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((r) => (i % 2 ? setImmediate(r) : queueMicrotask(() => r(null))));
    };
    for (const subscribeFirst of [false, true]) {
      for (let lag = 0; lag < 12; lag++) {
        const user = `racer${lag}${subscribeFirst ? 's' : 'e'}`;
        const event = like(`fan${lag}`, user);
        // One of the two reaches the node `lag` turns of the event loop after the other.
        const first = subscribeFirst ? node.since(user, 0, 10, 100 + lag) : ingest(event);
        await turns(lag);
        const second = subscribeFirst ? ingest(event) : node.since(user, 0, 10, 100 + lag);
        const [replay, res] = (subscribeFirst ? await Promise.all([first, second]) : await Promise.all([second, first])) as [
          Awaited<ReturnType<NodeActor['since']>>,
          Awaited<ReturnType<NodeActor['ingest']>>,
        ];
        const live = res.deliveries.filter((d) => d.user === user).map((d) => d.notification.offset);
        const got = new Set([...replay.items.map((n) => n.offset), ...live]);
        expect(got, `${subscribeFirst ? 'subscribe' : 'event'} first, lag ${lag}`).toEqual(new Set([1]));
      }
    }
  });

  it('forgets the presence of a shard the table takes away', async () => {
    const s = shardOf('bob', SHARDS);
    await node.since('bob', 0, 10, 1);
    node.setTable(
      2,
      ALL.filter((x) => x !== s),
    );
    expect(node.stats().presence).toMatchObject({ users: 0, knownShards: SHARDS - 1 });
    // Back again (a later move): unknown until the gateway states it, so everything of it is sent meanwhile.
    node.setTable(3, ALL);
    expect((await node.ingest({ epoch: 3, items: [{ event: like('q', 'bob'), users: ['bob'] }] })).deliveries.map((d) => d.user)).toEqual(['bob']);
  });
});
