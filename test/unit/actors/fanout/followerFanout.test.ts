import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { involvedUsers, type HeraldEvent } from '../../../../core/Event';
import { NodeActor } from '../../../../actors/node/NodeActor';
import { shardOf } from '../../../../storage/Keyspace';
import { createLogger } from '../../../../core/logger';
import { ev, nodeOptions, SHARDS, tempStore, tweet } from '../helpers';

const log = createLogger('test', 'silent');
const ALL = Array.from({ length: SHARDS }, (_, i) => i);

// The follower side of fanout: decisions from stored profiles, shards from the batch, writes through the mailboxes.
describe('FollowerFanout', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  let node: NodeActor;
  const ingest = (...events: HeraldEvent[]) => node.ingest({ epoch: 1, items: events.map((event) => ({ event, users: involvedUsers(event) })) });
  const batchOf = (event: HeraldEvent, followers: string[]) => ({ epoch: 1, event, followers, shards: followers.map((f) => shardOf(f, SHARDS)) });

  beforeEach(async () => {
    box = await tempStore();
    node = new NodeActor(box.store, nodeOptions(), log);
    await node.start();
    node.setTable(1, ALL);
  });
  afterEach(async () => {
    await node.stop().catch(() => {});
    await box.dispose();
  });

  it('notifies the followers who care, once, with offsets that follow their timelines', async () => {
    // fan: katy ranks 1. picky: 6 followings liked more, but engaged with "moon". cold: katy ranks 7, no entity.
    const others = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
    await ingest(ev('follow', 'fan', { target: 'katy' }));
    for (const u of ['picky', 'cold']) {
      await ingest(...others.map((o) => ev('follow', u, { target: o })));
      await ingest(...others.map((o) => ev('like', u, { target: o, tweet: tweet(o) })));
      await ingest(ev('follow', u, { target: 'katy' }));
    }
    await ingest(ev('like', 'picky', { target: 'zed', tweet: tweet('zed', { entities: ['Moon'] }) }));
    // An earlier entry on fan's timeline: the fanout's entry comes right after it.
    await ingest(ev('like', 'someone', { target: 'fan', tweet: tweet('fan') }));
    node.passivateIdle(Date.now() + 120_000);

    const t = ev('tweet', 'katy', { tweet: tweet('katy', { entities: ['MOON'] }) });
    const res = await node.fanoutBatch(batchOf(t, ['fan', 'picky', 'cold', 'nobody']));
    expect(res.decided).toBe(4);
    expect(res.deliveries.map((d) => [d.user, d.notification.reason, d.notification.offset]).sort()).toEqual([
      ['fan', 'top-5-following', 2],
      ['picky', 'top-following+entity:moon', 1],
    ]);
    // Bulk fanout does not leave actors behind.
    expect(node.stats().activeUsers).toBe(0);
    // The same page again (a resumed fanout): nobody is notified twice, no offset is used twice.
    const again = await node.fanoutBatch(batchOf(t, ['fan', 'picky', 'cold', 'nobody']));
    expect(again.deliveries.map((d) => [d.user, d.notification.offset]).sort()).toEqual([
      ['fan', 2],
      ['picky', 1],
    ]);
    expect((await node.timeline('fan', undefined, 10)).items.map((n) => n.offset)).toEqual([2, 1]);
    expect((await node.timeline('picky', undefined, 10)).items.filter((n) => n.type === 'tweet')).toHaveLength(1);
  });

  it('decides an active follower from its profile in memory', async () => {
    await ingest(ev('follow', 'fan', { target: 'katy' }));
    expect(node.stats().activeUsers).toBeGreaterThan(0);
    const res = await node.fanoutBatch(batchOf(ev('tweet', 'katy', { tweet: tweet('katy') }), ['fan']));
    expect(res.deliveries.map((d) => d.user)).toEqual(['fan']);
  });

  it('refuses a malformed batch, and followers of shards it does not serve or gained after the batch was routed', async () => {
    const t = ev('tweet', 'katy', { tweet: tweet('katy') });
    await expect(node.fanoutBatch({ ...batchOf(t, ['a', 'b']), shards: [1] })).rejects.toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });
    await expect(node.fanoutBatch({ ...batchOf(t, ['a']), shards: [-1] })).rejects.toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });
    node.setTable(
      2,
      ALL.filter((s) => s !== shardOf('a', SHARDS)),
    );
    await expect(node.fanoutBatch({ ...batchOf(t, ['a']), epoch: 2 })).rejects.toMatchObject({ code: 'HERALD_WRONG_OWNER' });
    // Gained back at epoch 3: a batch routed with epoch 2 (before) is refused, one routed with 3 is not; another
    // shard's batch routed with an older or newer epoch is not refused for that (fencing is per shard).
    node.setTable(3, ALL);
    await expect(node.fanoutBatch({ ...batchOf(t, ['a']), epoch: 2 })).rejects.toMatchObject({ code: 'HERALD_WRONG_OWNER' });
    await expect(node.fanoutBatch({ ...batchOf(t, ['a']), epoch: 3 })).resolves.toMatchObject({ decided: 1 });
    expect(shardOf('b', SHARDS)).not.toBe(shardOf('a', SHARDS));
    await expect(node.fanoutBatch({ ...batchOf(t, ['b']), epoch: 1 })).resolves.toMatchObject({ decided: 1 });
    await expect(node.fanoutBatch({ ...batchOf(t, ['b']), epoch: 4 })).resolves.toMatchObject({ decided: 1 });
  });

  it('decides a dense run of one shard through the candidate index as it would from every profile', async () => {
    // 100 users of shard 0 in five kinds; the index must let through exactly the ones the policy picks.
    const users: string[] = [];
    for (let i = 0; users.length < 100; i++) if (shardOf(`f${i}`, SHARDS) === 0) users.push(`f${i}`);
    users.sort();
    const kinds = ['top', 'entity', 'cold', 'demoted', 'unfollowed'] as const;
    const kindOf = (u: string) => kinds[users.indexOf(u) % kinds.length];
    const others = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
    for (const u of users) {
      const k = kindOf(u);
      if (k === 'top') await ingest(ev('follow', u, { target: 'katy' }));
      else {
        // katy first, while she ranks high (in the index), then six followings liked more push her to rank 7.
        await ingest(ev('follow', u, { target: 'katy' }));
        await ingest(...others.map((o) => ev('follow', u, { target: o })), ...others.map((o) => ev('like', u, { target: o, tweet: tweet(o) })));
        if (k === 'entity' || k === 'unfollowed') await ingest(ev('like', u, { target: 'zed', tweet: tweet('zed', { entities: ['Moon'] }) }));
        if (k === 'unfollowed') await ingest(ev('unfollow', u, { target: 'katy' }));
      }
    }
    node.passivateIdle(Date.now() + 120_000);
    const t = ev('tweet', 'katy', { tweet: tweet('katy', { entities: ['moon'] }) });
    const expected = users.filter((u) => kindOf(u) === 'top' || kindOf(u) === 'entity').sort();
    await node.followers.prepare(log);
    const first = await node.fanoutBatch(batchOf(t, users));
    expect(first.deliveries.map((d) => d.user).sort()).toEqual(expected);
    // Ruled out unread: the cold, demoted and unfollowed ones (the last still holds "moon", so it is read).
    expect(node.followers.counters.fanoutRuledOut).toBe(40);

    // The index kept incrementally is the one built from the profiles: wipe it, rebuild it at start, compare.
    const indexKeys = async () => (await box.store.db.keys({ gte: '0000!N!', lt: '0000!S' }).all()).filter((k) => /^0000!(N|R)!/.test(k));
    const incremental = await indexKeys();
    expect(incremental).toContain(`0000!R!katy!${users[0]}`);
    expect(incremental.filter((k) => k.startsWith('0000!R!katy!'))).toHaveLength(20);
    await node.stop();
    await box.reopen();
    for (const k of [...incremental, '~meta!candidateIndex']) await box.store.db.del(k);
    node = new NodeActor(box.store, nodeOptions(), log);
    await node.start();
    node.setTable(1, ALL);
    // Built in the background from the stored profiles.
    await node.followers.prepare(log);
    expect(await indexKeys()).toEqual(incremental);
    const t2 = ev('tweet', 'katy', { tweet: tweet('katy', { entities: ['moon'] }) });
    expect((await node.fanoutBatch(batchOf(t2, users))).deliveries.map((d) => d.user).sort()).toEqual(expected);
  });
});
