import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ShardRegion } from '../../../../actors/node/ShardRegion';
import { KNOWN_AFTER, KNOWN_HOT_MS, UserActor } from '../../../../actors/user/UserActor';
import { SUPERSEDED } from '../../../../core/Event';
import { pack } from '../../../../core/Codec';
import { followerKey, seqKey, shardOf, userKey } from '../../../../storage/Keyspace';
import { ev, nodeOptions, SHARDS, tempStore, tweet } from '../helpers';
import { keyScans } from '../keyScans';

type Box = Awaited<ReturnType<typeof tempStore>>;

describe('UserActor', () => {
  let box: Box;
  beforeEach(async () => {
    box = await tempStore();
  });
  afterEach(async () => {
    await box.dispose();
  });

  const actor = (id: string) => new UserActor(id, shardOf(id, SHARDS), box.store, nodeOptions());
  const has = (user: string, kind: 'f' | 'F' | 'w', other: string) =>
    box.store.db.getSync(
      kind === 'F' ? followerKey(shardOf(user, SHARDS), user, shardOf(other, SHARDS), other) : userKey(shardOf(user, SHARDS), kind, user, other),
    ) !== undefined;
  /** Applies an event to each user's actor and waits for the writes. */
  async function applyAll(actors: UserActor[], e: ReturnType<typeof ev>) {
    const out = actors.map((a) => a.apply(e));
    await Promise.all(out.map((r) => r?.written));
    return out;
  }

  it('gives offsets starting at 1 and rising by exactly 1', async () => {
    const bob = actor('bob');
    expect(bob.state).toEqual({ offset: 0, unread: 0, read: 0 });
    const offsets: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = bob.apply(ev('like', `fan${i}`, { tweet: tweet('bob') }))!;
      await r.written;
      offsets.push(r.notification!.offset);
    }
    expect(offsets).toEqual([1, 2, 3, 4, 5]);
    expect(bob.state.offset).toBe(5);
    // a fresh activation continues from the stored counter
    const again = actor('bob').apply(ev('reply', 'zed', { tweet: tweet('bob') }))!;
    expect(again.notification!.offset).toBe(6);
    await again.written;
  });

  it('applies a duplicate event (same actor + id) once, also after passivation and re-activation', async () => {
    const e = ev('like', 'alice', { tweet: tweet('bob') });
    const bob = actor('bob');
    const first = bob.apply(e)!;
    expect(first.notification!.offset).toBe(1);
    // Before the first write has landed: the answer is the same entry (read from the write in flight).
    expect(bob.apply({ ...e })?.notification).toEqual(first.notification);
    await first.written;
    // A repeat changes nothing but answers the entry it made (so a retry's ack can still deliver it live).
    const sameEntry = (a: ReturnType<typeof bob.apply>) => expect(a?.notification).toEqual(first.notification);
    sameEntry(bob.apply(e));
    sameEntry(bob.apply({ ...e }));

    const reborn = actor('bob'); // passivated: a new instance over the same store
    sameEntry(reborn.apply({ ...e }));
    expect(reborn.state.offset).toBe(1);
    expect((await reborn.page(undefined, 10)).items).toHaveLength(1);

    // also after the store itself was closed and reopened
    await box.reopen();
    sameEntry(actor('bob').apply({ ...e }));
    expect(actor('bob').state.offset).toBe(1);

    // the same id from another actor is a different event
    const other = actor('bob').apply({ ...e, actor: 'carol' })!;
    expect(other.notification!.offset).toBe(2);
    await other.written;
  });

  it('follow stores edges on both sides and notifies the followee; unfollow removes them silently', async () => {
    const alice = actor('alice');
    const bob = actor('bob');
    const [onAlice, onBob] = await applyAll([alice, bob], ev('follow', 'alice', { target: 'bob' }));
    expect(onAlice!.notification).toBeUndefined();
    expect(onBob!.notification).toMatchObject({ offset: 1, type: 'follow', actors: ['alice'], text: 'alice followed you' });
    expect(has('alice', 'f', 'bob')).toBe(true);
    expect(has('bob', 'F', 'alice')).toBe(true);
    expect(has('bob', 'f', 'alice')).toBe(false);
    expect(has('alice', 'F', 'bob')).toBe(false);

    const [offAlice, offBob] = await applyAll([alice, bob], ev('unfollow', 'alice', { target: 'bob' }));
    expect(offAlice!.notification).toBeUndefined();
    expect(offBob!.notification).toBeUndefined();
    expect(has('alice', 'f', 'bob')).toBe(false);
    expect(has('bob', 'F', 'alice')).toBe(false);
    expect(bob.state.offset).toBe(1);
    expect((await bob.page(undefined, 10)).items.map((n) => n.type)).toEqual(['follow']);
  });

  it.each(['like', 'retweet', 'reply'] as const)('%s notifies the tweet author, not the actor', async (type) => {
    const alice = actor('alice');
    const bob = actor('bob');
    const t = tweet('bob');
    const [onAlice, onBob] = await applyAll([alice, bob], ev(type, 'alice', { target: 'bob', tweet: t }));
    expect(onAlice!.notification).toBeUndefined();
    expect(onBob!.notification).toMatchObject({ offset: 1, type, actors: ['alice'], tweetId: t.id });
    expect(onBob!.notification!.text).toContain('héllo 🌍');
    expect(alice.state.offset).toBe(0);
    // liking one's own tweet notifies nobody
    const self = alice.apply(ev(type, 'alice', { target: 'alice', tweet: tweet('alice') }))!;
    expect(self.notification).toBeUndefined();
    await self.written;
  });

  it.each(['mention', 'tweet'] as const)('%s notifies each mentioned user, never the actor', async (type) => {
    const users = ['alice', 'bob', 'carol', 'dave'].map(actor);
    const t = tweet('alice', { mentions: ['bob', 'carol', 'alice', 'bob'] });
    const [a, b, c, d] = await applyAll(users, ev(type, 'alice', { tweet: t }));
    expect(a!.notification).toBeUndefined();
    expect(b!.notification).toMatchObject({ offset: 1, type: 'mention', actors: ['alice'], tweetId: t.id });
    expect(c!.notification).toMatchObject({ offset: 1, type: 'mention' });
    expect(d!.notification).toBeUndefined();
    expect(users[1].state.offset).toBe(1); // a repeated mention makes one entry
    if (type === 'tweet') expect(has('alice', 'w', t.id)).toBe(true);
  });

  it('pages newest first with a `next` cursor; the last page has none', async () => {
    const bob = actor('bob');
    for (let i = 0; i < 25; i++) bob.apply(ev('like', `u${i}`, { tweet: tweet('bob') }));
    const p1 = await bob.page(undefined, 10); // waits for the writes itself (read-your-writes)
    expect(p1.items.map((n) => n.offset)).toEqual([25, 24, 23, 22, 21, 20, 19, 18, 17, 16]);
    expect(p1.next).toBe(16);
    const p2 = await bob.page(p1.next, 10);
    expect(p2.items.map((n) => n.offset)).toEqual([15, 14, 13, 12, 11, 10, 9, 8, 7, 6]);
    expect(p2.next).toBe(6);
    const p3 = await bob.page(p2.next, 10);
    expect(p3.items.map((n) => n.offset)).toEqual([5, 4, 3, 2, 1]);
    expect(p3.next).toBeUndefined();
    // a page that ends exactly on offset 1 has no next either
    const exact = await bob.page(11, 10);
    expect(exact.items).toHaveLength(10);
    expect(exact.next).toBeUndefined();
    expect((await bob.since(22, 10)).map((n) => n.offset)).toEqual([23, 24, 25]);
  });

  // A write that fails leaves memory ahead of LevelDB; later writes were refused by the store (GroupCommit is
  // fail-stop), so an actor reloaded from LevelDB is exactly where the last landed write left it.
  it('a failed write marks the actor failed; reloaded from LevelDB, the retry applies at the same offset', async () => {
    let fail = true;
    const flaky = Object.assign(Object.create(box.store), {
      durable: {
        write: (ops: Parameters<typeof box.store.durable.write>[0]) => {
          if (!fail) return box.store.durable.write(ops);
          fail = false;
          return Promise.reject(new Error('EIO'));
        },
      },
    });
    const bob = new UserActor('bob', shardOf('bob', SHARDS), flaky, nodeOptions());
    const e = ev('like', 'alice', { tweet: tweet('bob') });
    await expect(bob.apply(e)!.written).rejects.toThrow('EIO');
    await Promise.resolve();
    expect(bob.failed).toBe(true);
    const region = new ShardRegion(box.store, nodeOptions('n'));
    region.actors.set('bob', bob);
    const reloaded = region.activate('bob');
    expect(reloaded).not.toBe(bob);
    const retry = reloaded.apply({ ...e });
    expect(retry!.notification!.offset).toBe(1);
    await retry!.written;
    expect((await reloaded.page(undefined, 10)).items.map((n) => n.offset)).toEqual([1]);
  });

  it("pipelines a user's events: each applies before the previous write landed and sees its values", async () => {
    const alice = actor('alice');
    const bob = actor('bob');
    const t = tweet('bob');
    const likes = [0, 1, 2].map((i) => ev('like', `fan${i}`, { target: 'bob', tweet: t }));
    // No await between applies: the aggregate record and the entry it replaces are still in flight.
    const applied = likes.map((e) => bob.apply(e)!);
    expect(applied.map((a) => a.notification!.offset)).toEqual([1, 2, 3]);
    expect(applied[2].notification).toMatchObject({ count: 3, replaces: 2, actors: ['fan2', 'fan1', 'fan0'] });
    // The liker's affinity accumulates across writes in flight too.
    const own = [0, 1].map(() => alice.apply(ev('like', 'alice', { target: 'bob', tweet: tweet('bob') }))!);
    await Promise.all([...applied, ...own].map((a) => a.written));
    const affinity = box.store.getSync<[number, number]>(userKey(shardOf('alice', SHARDS), 'a', 'alice', 'bob'))!;
    expect(affinity[0]).toBeCloseTo(2, 3);
    const page = await bob.page(undefined, 10);
    expect(page.items.map((n) => n.offset)).toEqual([3]); // 1 and 2 were replaced
    // 1 and 2 were removed in the batches that superseded them: a replay answers their offsets as superseded.
    expect((await bob.since(0, 10)).map((n) => [n.offset, n.type])).toEqual([
      [1, SUPERSEDED],
      [2, SUPERSEDED],
      [3, 'like'],
    ]);
    // A duplicate of an event whose write is still in flight is caught too, and its answer waits for the write.
    const e = ev('like', 'zed', { tweet: tweet('bob') });
    const first = bob.apply(e)!;
    const again = bob.apply({ ...e })!;
    expect(again.notification).toEqual(first.notification);
    await again.written;
    expect(bob.writing).toBe(false);
  });

  it("keeps a tweet's first like as its entry's offset, and extends an aggregate stored as a record (older data) too", async () => {
    const t = tweet('bob');
    const aggregateKey = (tweetId: string) => userKey(shardOf('bob', SHARDS), 'g', 'bob', 'like', tweetId);
    await applyAll([actor('bob')], ev('like', 'fan0', { tweet: t }));
    expect(box.store.getSync(aggregateKey(t.id))).toBe(1);
    const [second] = await applyAll([actor('bob')], ev('like', 'fan1', { tweet: t }));
    expect(second!.notification).toMatchObject({ offset: 2, count: 2, replaces: 1, actors: ['fan1', 'fan0'] });
    expect(box.store.getSync(aggregateKey(t.id))).toMatchObject({ offset: 2, count: 2 });
    // A record as earlier versions wrote it for a first like.
    const old = tweet('bob');
    const first = await applyAll([actor('bob')], ev('like', 'fan2', { tweet: old }));
    const at = first[0]!.notification!;
    await box.store.durable.write([
      { type: 'put', key: aggregateKey(old.id), value: pack({ offset: at.offset, since: at.ts, count: 1, actors: ['fan2'], eventIds: at.eventIds }) },
    ]);
    const [later] = await applyAll([actor('bob')], ev('like', 'fan3', { tweet: old }));
    expect(later!.notification).toMatchObject({ count: 2, replaces: at.offset, actors: ['fan3', 'fan2'], eventIds: [...at.eventIds, expect.any(String)] });
  });

  it('loads its key sets after a few events: then new events read nothing, keys from before and during the load count', async () => {
    const scans = keyScans(box.store);
    const old = ev('like', 'alice', { target: 'bob', tweet: tweet('bob') });
    await Promise.all([actor('alice').apply(old)!.written, actor('bob').apply(old)!.written]);
    const [alice, bob] = [actor('alice'), actor('bob')]; // reactivated: nothing in memory
    const pending: Array<Promise<void>> = [];
    // The event after the first KNOWN_AFTER of an activation starts the loads.
    for (let i = 0; i <= KNOWN_AFTER; i++) {
      pending.push(bob.apply(ev('like', `x${i}`, { tweet: tweet('bob') }))!.written);
      pending.push(alice.apply(ev('like', 'alice', { target: 'bob', tweet: tweet('bob') }))!.written);
    }
    await Promise.all(pending);
    await scans.ended();
    expect(bob.apply({ ...old })?.notification?.offset).toBe(1); // stored before the activation: still a duplicate
    expect(alice.apply({ ...old })).toBeNull();
    const reads = vi.spyOn(box.store, 'getSync');
    const fresh = bob.apply(ev('like', 'y', { tweet: tweet('bob') }))!;
    expect(reads).not.toHaveBeenCalled(); // dedupe and aggregate lookups of a new event: certainly absent
    const own = alice.apply(ev('like', 'alice', { target: 'bob', tweet: tweet('bob') }))!;
    expect(reads).not.toHaveBeenCalled(); // the affinity exists, and its value is kept since it was last written
    reads.mockRestore();
    await Promise.all([fresh.written, own.written]);
    const affinity = box.store.getSync<[number, number]>(userKey(shardOf('alice', SHARDS), 'a', 'alice', 'bob'))!;
    expect(affinity[0]).toBeCloseTo(KNOWN_AFTER + 3, 3); // 1 before the activation, KNOWN_AFTER + 1 around the load, 1 after
  });

  it('loads its key sets from the second event when events come faster than one per KNOWN_HOT_MS, not when slower', async () => {
    const T0 = Date.parse('2030-01-01T00:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const scans = keyScans(box.store);
    try {
      const [busy, slow] = [actor('bob'), actor('carol')];
      for (const [a, gap] of [
        [busy, 10],
        [slow, KNOWN_HOT_MS * 2],
      ] as const) {
        await a.apply(ev('like', 'x0', { tweet: tweet(a.id) }))!.written;
        vi.setSystemTime(Date.now() + gap);
        await a.apply(ev('like', 'x1', { tweet: tweet(a.id) }))!.written;
      }
      await scans.ended();
      const reads = vi.spyOn(box.store, 'getSync');
      busy.apply(ev('like', 'x2', { tweet: tweet('bob') }));
      expect(reads).not.toHaveBeenCalled(); // its sets: a new event's dedupe and aggregate keys are certainly absent
      slow.apply(ev('like', 'x2', { tweet: tweet('carol') }));
      expect(reads).toHaveBeenCalled(); // no sets yet (KNOWN_AFTER): each lookup reads LevelDB
      reads.mockRestore();
    } finally {
      vi.useRealTimers();
    }
  });

  it('markRead clamps (never back, never past the newest) and unread = last - read', async () => {
    const bob = actor('bob');
    for (let i = 0; i < 5; i++) bob.apply(ev('like', `u${i}`, { tweet: tweet('bob') }));
    expect(bob.state).toEqual({ offset: 5, unread: 5, read: 0 });
    expect(await bob.markRead(3)).toMatchObject({ last: 5, read: 3 });
    expect(bob.state.unread).toBe(2);
    expect(await bob.markRead(1)).toMatchObject({ last: 5, read: 3 });
    expect(await bob.markRead(-4)).toMatchObject({ last: 5, read: 3 });
    expect(await bob.markRead(1000)).toMatchObject({ last: 5, read: 5 });
    expect(bob.state).toEqual({ offset: 5, unread: 0, read: 5 });
    expect(actor('bob').state).toEqual({ offset: 5, unread: 0, read: 5 }); // persisted
  });

  it('retention keeps the newest timelineMax entries and moves first (and read) up', async () => {
    const bob = new UserActor('bob', shardOf('bob', SHARDS), box.store, nodeOptions('node-1', { timelineMax: 3 }));
    for (let i = 0; i < 5; i++) bob.apply(ev('like', `u${i}`, { tweet: tweet('bob') }));
    expect((await bob.page(undefined, 10)).items.map((n) => n.offset)).toEqual([5, 4, 3]);
    expect(bob.recovery.first).toBe(3);
    expect(bob.state).toEqual({ offset: 5, unread: 3, read: 2 });
    expect(new UserActor('bob', shardOf('bob', SHARDS), box.store, nodeOptions('node-1', { timelineMax: 3 })).recovery).toEqual(bob.recovery);
  });

  // BUG (actors/user/UserActor.ts apply): every aggregated like took a retention slot (the superseded entry stayed),
  // so 60 likes of one tweet with timelineMax 50 pushed out the follow and the mention, and unread said 50.
  describe('aggregation does not consume retention', () => {
    const capped = () => new UserActor('bob', shardOf('bob', SHARDS), box.store, nodeOptions('node-1', { timelineMax: 50 }));
    async function viral(bob: UserActor) {
      await bob.apply(ev('follow', 'alice', { target: 'bob' }))!.written;
      await bob.apply(ev('mention', 'carol', { tweet: tweet('carol', { mentions: ['bob'] }) }))!.written;
      const hot = tweet('bob');
      for (let i = 0; i < 60; i++) bob.apply(ev('like', `fan${i}`, { tweet: hot }));
      return { page: await bob.page(undefined, 100), hot };
    }

    it('60 likes of one tweet leave the follow and the mention: 3 visible entries, 3 unread', async () => {
      const bob = capped();
      const { page } = await viral(bob);
      expect(page.items.map((n) => n.type)).toEqual(['like', 'mention', 'follow']);
      expect(page.items[0]).toMatchObject({ offset: 62, count: 60, replaces: 61 });
      expect(page.next).toBeUndefined();
      expect(bob.state).toEqual({ offset: 62, unread: 3, read: 0 });
      expect(bob.recovery.first).toBe(1);
      expect(capped().state).toEqual(bob.state); // the counters are stored
    });

    it('a superseded entry is removed in the batch that supersedes it; a replay answers its offset as superseded', async () => {
      const bob = capped();
      await viral(bob);
      const replay = await bob.since(0, 100);
      expect(replay.map((n) => n.offset)).toEqual(Array.from({ length: 62 }, (_, i) => i + 1)); // no silent gap
      expect(replay.filter((n) => n.type !== SUPERSEDED).map((n) => n.offset)).toEqual([1, 2, 62]);
      expect(replay[2]).toMatchObject({ offset: 3, type: SUPERSEDED, actors: [], eventIds: [] });
      expect(box.store.getSync(userKey(shardOf('bob', SHARDS), 't', 'bob', seqKey(3)))).toBeUndefined();
      // A limited replay stops inside a run of superseded offsets and the next one resumes from there.
      expect((await bob.since(0, 10)).map((n) => n.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect((await bob.since(59, 10)).map((n) => n.offset)).toEqual([60, 61, 62]);
    });

    it('reading up to the newest makes unread 0; a partial read counts only visible entries', async () => {
      const bob = capped();
      const { hot } = await viral(bob);
      expect(await bob.markRead(30)).toMatchObject({ read: 30 });
      expect(bob.state.unread).toBe(1); // the follow and the mention are read; the aggregate is not
      await bob.markRead(62);
      expect(bob.state).toEqual({ offset: 62, unread: 0, read: 62 });
      // A like of the read aggregate makes it unread again, once.
      await bob.apply(ev('like', 'late', { tweet: hot }))!.written;
      expect(bob.state).toEqual({ offset: 63, unread: 1, read: 62 });
    });

    it('retention drops the oldest visible entries, passing over superseded offsets', async () => {
      const bob = capped();
      await viral(bob);
      for (let i = 0; i < 49; i++) bob.apply(ev('reply', `r${i}`, { tweet: tweet('bob') }));
      const page = await bob.page(undefined, 100);
      expect(page.items).toHaveLength(50);
      expect(page.items.at(-1)!.type).toBe('like'); // the follow and the mention went first
      expect(bob.recovery.first).toBe(3);
      expect(bob.state).toEqual({ offset: 111, unread: 50, read: 2 });
      const replay = await bob.since(2, 200);
      expect(replay.map((n) => n.offset)).toEqual(Array.from({ length: 109 }, (_, i) => i + 3));
    });

    it('retention by age drops old entries over superseded offsets, and counts only the visible ones', async () => {
      const bob = capped();
      const hot = tweet('bob');
      bob.apply(ev('follow', 'alice', { target: 'bob', ts: 1 }));
      for (let i = 0; i < 3; i++) bob.apply(ev('like', `fan${i}`, { tweet: hot, ts: 2 + i }));
      await bob.apply(ev('mention', 'carol', { tweet: tweet('carol', { mentions: ['bob'] }), ts: 10 }))!.written;
      expect(bob.state).toEqual({ offset: 5, unread: 3, read: 0 });
      expect(await bob.dropOlderThan(5)).toBe(2); // the follow at 1 and the aggregate at 4; 2 and 3 were holes
      expect(bob.recovery.first).toBe(5);
      expect(bob.state).toEqual({ offset: 5, unread: 1, read: 4 });
      expect((await bob.since(4, 10)).map((n) => n.type)).toEqual(['mention']);
    });
  });

  // BUG (actors/user/UserActor.ts page): `next` is offered while the oldest item is above 1, not above `first`, so
  // with retention the page that ends on the oldest kept entry still has a `next` leading to an empty page.
  it('with retention, the page ending on the oldest kept entry has no next', async () => {
    const bob = new UserActor('bob', shardOf('bob', SHARDS), box.store, nodeOptions('node-1', { timelineMax: 3 }));
    for (let i = 0; i < 5; i++) bob.apply(ev('like', `u${i}`, { tweet: tweet('bob') }));
    const page = await bob.page(undefined, 3);
    expect(page.items.map((n) => n.offset)).toEqual([5, 4, 3]);
    expect(page.next).toBeUndefined();
  });
});
