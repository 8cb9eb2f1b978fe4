import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { involvedUsers, type HeraldEvent } from '../../../../core/Event';
import { INDEX_COMPLETE_KEY, indexKeys, termsOf } from '../../../../actors/fanout/CandidateIndex';
import type { ProfileData } from '../../../../actors/user/InterestProfile';
import { NodeActor } from '../../../../actors/node/NodeActor';
import type { IngestItem, Peers } from '../../../../core/nodeProtocol';
import { unpack } from '../../../../core/Codec';
import { HIGH, shardOf, shardPrefix } from '../../../../storage/Keyspace';
import { createLogger } from '../../../../core/logger';
import { DEFAULT_CONFIG } from '../../../../core/config';
import type { DeliveryJob } from '../../../../core/OutboundDelivery';
import { waitFor } from '../../../support/waitFor';
import { ev, nodeOptions, SHARDS, tempStore, tweet } from '../helpers';

const log = createLogger('test', 'silent');
const item = (event: HeraldEvent): IngestItem => ({ event, users: involvedUsers(event) });

/**
 * A live handoff between two nodes in one process: the old owner keeps taking events while its snapshot is
 * copied; after the freeze and the delta, the new owner holds exactly the old owner's keys of the shard.
 */
describe('ShardHandoff', () => {
  let a: Awaited<ReturnType<typeof tempStore>>;
  let b: Awaited<ReturnType<typeof tempStore>>;
  const nodes: NodeActor[] = [];

  beforeEach(async () => {
    a = await tempStore();
    b = await tempStore();
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop().catch(() => {});
    await a.dispose();
    await b.dispose();
  });

  async function node(box: typeof a, id: string, shards: number[], peers?: Peers) {
    const n = new NodeActor(box.store, nodeOptions(id), log, peers);
    nodes.push(n);
    await n.start();
    n.setTable(1, shards);
    return n;
  }
  /** The links of a new owner to `old`, answering its pulls (and pings); `calls` records them. */
  const linksTo = (old: NodeActor, calls: string[] = []): Peers => ({
    call: async (peer: string, op: string, args: any) => {
      calls.push(`${peer} ${op}`);
      if (op === 'ping') return null as any;
      return (op === 'exportShard' ? old.handoff.export(args.shard, args.limit) : old.handoff.delta(args.shard)) as any;
    },
  });
  const rows = async (box: typeof a, shard: number) =>
    (await box.store.db.iterator({ gt: shardPrefix(shard), lt: shardPrefix(shard) + HIGH }).all()).map(([k, v]) => [k, Buffer.from(v).toString('hex')]);

  it('copies a shard while it takes events, then sends only the keys written meanwhile', async () => {
    const users = Array.from({ length: 400 }, (_, i) => `u${i}`);
    const shard = shardOf('u0', SHARDS);
    const mine = users.filter((u) => shardOf(u, SHARDS) === shard);
    const old = await node(
      a,
      'node-1',
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    const next = await node(b, 'node-2', []);
    // Followers of one author and some timelines, before the copy.
    for (const u of mine)
      await old.ingest({ epoch: 1, items: [item(ev('follow', u, { target: mine[0] })), item(ev('like', mine[1], { tweet: tweet(u), target: u }))] });

    await old.handoff.begin(shard);
    let done = false;
    let written = 0;
    for (let i = 0; !done; i++) {
      const part = await old.handoff.export(shard, 7);
      if (part.keys) await next.handoff.import(shard, part.frame);
      done = part.done;
      // Writes during the copy: new entries and counters (puts), the follow edge removed (deletions).
      const u = mine[i % mine.length];
      await old.ingest({ epoch: 1, items: [item(ev('like', mine[2], { tweet: tweet(u), target: u })), item(ev('unfollow', u, { target: mine[0] }))] });
      written++;
    }
    expect(written).toBeGreaterThan(5);
    await old.handoff.freeze(shard);
    expect((await old.ingest({ epoch: 1, items: [item(ev('like', mine[3], { tweet: tweet(mine[4]) }))] })).errors).toEqual(['HERALD_WRONG_OWNER']);
    const delta = await old.handoff.delta(shard);
    expect(delta.keys).toBeGreaterThan(0);
    expect(delta.keys).toBeLessThan((await rows(a, shard)).length);
    await next.handoff.import(shard, delta.frame, true);

    expect(await rows(b, shard)).toEqual(await rows(a, shard));
    // Nothing of another shard was sent.
    const other = (shard + 1) % SHARDS;
    expect(await rows(b, other)).toEqual([]);
  });

  it("moves a user's queued sends, dead letters and explain records with the shard; a send in flight stays queued", async () => {
    const all = Array.from({ length: SHARDS }, (_, i) => i);
    const delivery = { channels: new Set(['push' as const]), pushCap: { max: 100, windowMs: 60_000, minGapMs: 0 }, pushCapByType: {} };
    const withPush = async (box: typeof a, id: string, shards: number[], peers?: Peers) => {
      const n = new NodeActor(box.store, { ...nodeOptions(id), delivery }, log, peers);
      nodes.push(n);
      await n.start();
      n.setTable(1, shards);
      return n;
    };
    const old = await withPush(a, 'node-1', all);
    const next = await withPush(b, 'node-2', []);
    const user = 'u0';
    const shard = shardOf(user, SHARDS);
    await old.settings(user, { devices: { push: ['token-1'] } });
    // Four pushes queued (follows notify by push by default) and one fanout reaching the user (its explain record).
    for (let i = 0; i < 4; i++) await old.ingest({ epoch: 1, items: [item(ev('follow', `f${i}`, { target: user }))] });
    const t = ev('tweet', 'f0', { tweet: tweet('f0') });
    await old.fanoutBatch({ epoch: 1, event: t, followers: [user], shards: [shard] });
    // The explain record is written beside the batch's decisions, not before its answer: wait for it.
    await waitFor(
      'the explain record',
      () => old.followers.explain(user, t.tweet!.id),
      (e) => e.author === 'f0',
    );
    // The provider refuses the first send for good (a dead letter) and holds the second one until after the move.
    const hung: Array<() => void> = [];
    let calls = 0;
    old.startDelivery(
      new Map([
        [
          'push',
          { send: () => (++calls === 1 ? Promise.reject(Object.assign(new Error('gone'), { retryable: false })) : new Promise<void>((r) => hung.push(r))) },
        ],
      ]),
      {
        ...DEFAULT_CONFIG.sender,
        concurrency: 1,
      },
    );
    await waitFor('a dead letter and a send in flight', () => hung.length === 1 && old.stats().senders.push?.dead === 1);

    await old.handoff.begin(shard);
    for (let done = false; !done;) {
      const part = await old.handoff.export(shard, 3);
      if (part.keys) await next.handoff.import(shard, part.frame);
      done = part.done;
    }
    await old.handoff.freeze(shard);
    await next.handoff.import(shard, (await old.handoff.delta(shard)).frame, true);
    old.setTable(
      2,
      all.filter((s) => s !== shard),
    );
    next.setTable(2, [shard]);
    await old.handoff.drop(shard);
    // The send in flight ends after the move: the old owner writes nothing, the new owner still holds the job.
    hung.splice(0).forEach((r) => r());
    await waitFor('the send in flight to end', () => old.stats().senders.push?.inFlight === 0);
    expect(await rows(a, shard)).toEqual([]);

    const queued = (await rows(b, shard)).filter(([k]) => k.startsWith(shardPrefix(shard) + 'q!'));
    expect(queued).toHaveLength(3);
    expect((await next.deadLetters(10)).map((l) => l.job.user)).toEqual([user]);
    expect(await old.deadLetters(10)).toEqual([]);
    expect(next.followers.explain(user, t.tweet!.id)).toMatchObject({ author: 'f0' });

    // The new owner sends them all, the dead letter once replayed.
    const sent: string[] = [];
    next.startDelivery(new Map([['push', { send: async (job: DeliveryJob) => void sent.push(job.notification.actors[0]) }]]), {
      ...DEFAULT_CONFIG.sender,
      concurrency: 2,
    });
    await waitFor('the queued sends on the new owner', () => sent.length === 3);
    expect(await next.replayDeadLetters()).toBe(1);
    await waitFor('the replayed dead letter', () => sent.length === 4);
    expect([...sent].sort()).toEqual(['f0', 'f1', 'f2', 'f3']);
  });

  it('refuses a part holding keys of another shard, and a rolled-back handoff takes work again', async () => {
    const old = await node(
      a,
      'node-1',
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    const next = await node(b, 'node-2', []);
    const shard = shardOf('u0', SHARDS);
    await old.ingest({ epoch: 1, items: [item(ev('follow', 'u0', { target: 'u1' }))] });
    await old.handoff.begin(shard);
    const part = await old.handoff.export(shard, 1000);
    await expect(next.handoff.import((shard + 1) % SHARDS, part.frame)).rejects.toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });
    await old.handoff.freeze(shard);
    await old.handoff.unfreeze(shard);
    await expect(old.handoff.export(shard, 1000)).rejects.toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });
    expect((await old.ingest({ epoch: 1, items: [item(ev('follow', 'u0', { target: 'u2' }))] })).errors).toEqual([null]);
  });

  it('fences by shard: another epoch is accepted for a shard served throughout, not for one gained since or frozen', async () => {
    const n = await node(a, 'node-1', []);
    const shard = shardOf('u0', SHARDS);
    const other = Array.from({ length: 100 }, (_, i) => `v${i}`).find((u) => shardOf(u, SHARDS) !== shard)!;
    const follow = (u: string) => item(ev('follow', u, { target: u + 'x' }));
    const ingest = async (epoch: number, u: string) => (await n.ingest({ epoch, items: [{ ...follow(u), users: [u] }] })).errors[0];
    n.setTable(5, [shard, shardOf(other, SHARDS)]);
    // A move elsewhere bumps the epoch: work routed just before or after it still lands.
    n.setTable(6, [shard, shardOf(other, SHARDS)]);
    expect(await ingest(5, 'u0')).toBe(null);
    expect(await ingest(7, 'u0')).toBe(null);
    // Gained at epoch 5: work routed at 4 was meant for its previous owner.
    expect(await ingest(4, 'u0')).toBe('HERALD_WRONG_OWNER');
    await n.handoff.begin(shard);
    await n.handoff.freeze(shard);
    expect(await ingest(6, 'u0')).toBe('HERALD_WRONG_OWNER');
    expect(await ingest(7, 'u0')).toBe('HERALD_WRONG_OWNER');
    expect(await ingest(6, other)).toBe(null);
    n.setTable(7, [shardOf(other, SHARDS)]);
    expect(await ingest(7, 'u0')).toBe('HERALD_WRONG_OWNER');
  });

  it("gives a shard's profiles their candidate index entries at the new owner when the old owner's index is not complete", async () => {
    const old = await node(
      a,
      'node-1',
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    const next = await node(b, 'node-2', [], linksTo(old));
    await Promise.all([old.followers.prepare(log), next.followers.prepare(log)]);
    const shard = shardOf('u0', SHARDS);
    const mine = Array.from({ length: 400 }, (_, i) => `u${i}`).filter((u) => shardOf(u, SHARDS) === shard);
    // Profiles: a top following each (R entries) and an entity each (N entries).
    for (const [i, u] of mine.entries()) {
      const author = `author-${i % 3}`;
      await old.ingest({
        epoch: 1,
        items: [item(ev('follow', u, { target: author })), item(ev('like', u, { tweet: tweet(author, { entities: [`topic${i % 5}`] }), target: author }))],
      });
    }
    const indexed = async (box: typeof a) =>
      (await box.store.db.keys({ gt: shardPrefix(shard), lt: shardPrefix(shard) + HIGH }).all()).filter((k) => /^[^!]*!(R|N)!/.test(k)).sort();
    const expected = await indexed(a);
    expect(expected.length).toBeGreaterThanOrEqual(2 * mine.length);
    // The old owner as an older DB still building its index: none of the entries yet, no mark.
    await a.store.db.batch(
      [...expected, INDEX_COMPLETE_KEY].map((key) => ({ type: 'del' as const, key })),
      { sync: true },
    );

    await old.handoff.begin(shard);
    for (let done = false; !done;) done = (await next.handoff.pull(shard, 'node-1', 7)).done;
    // A profile changed during the copy arrives with the delta: its new entry too.
    await old.ingest({ epoch: 1, items: [item(ev('follow', mine[0], { target: 'author-late' }))] });
    await old.handoff.freeze(shard);
    await next.handoff.pull(shard, 'node-1', 7, true);

    const got = await indexed(b);
    expect(got).toEqual(expect.arrayContaining(expected));
    const profiles = await b.store.db.iterator({ gt: `${shardPrefix(shard)}P!`, lt: `${shardPrefix(shard)}P!${HIGH}` }).all();
    expect(profiles.length).toBe(mine.length);
    for (const [key, value] of profiles) {
      const user = key.slice(`${shardPrefix(shard)}P!`.length);
      expect(got).toEqual(expect.arrayContaining(indexKeys(shard, user, termsOf(unpack<ProfileData>(value)))));
    }
    expect(got.some((k) => k.includes('!R!author-late!'))).toBe(true);
  });

  it('lets the new owner pull the parts from the old owner, several at once, and the delta last', async () => {
    const old = await node(
      a,
      'node-1',
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    const calls: string[] = [];
    const next = await node(b, 'node-2', [], linksTo(old, calls));
    const shard = shardOf('u0', SHARDS);
    const mine = Array.from({ length: 400 }, (_, i) => `u${i}`).filter((u) => shardOf(u, SHARDS) === shard);
    for (const u of mine) await old.ingest({ epoch: 1, items: [item(ev('follow', u, { target: mine[0] }))] });
    expect(await next.handoff.reach('node-1')).toBe(true);
    await old.handoff.begin(shard);
    let done = false;
    let keys = 0;
    while (!done) {
      const parts = await Promise.all([1, 2, 3].map(() => next.handoff.pull(shard, 'node-1', 5)));
      for (const p of parts) keys += p.keys;
      done = parts.some((p) => p.done);
      await old.ingest({ epoch: 1, items: [item(ev('like', mine[1], { tweet: tweet(mine[2]), target: mine[2] }))] });
    }
    await old.handoff.freeze(shard);
    const last = await next.handoff.pull(shard, 'node-1', 5, true);
    expect(last.keys).toBeGreaterThan(0);
    expect(keys).toBeGreaterThan(mine.length);
    expect(await rows(b, shard)).toEqual(await rows(a, shard));
    expect(calls.at(-1)).toBe('node-1 exportDelta');
    // A lone node has no links: the coordinator relays instead.
    expect(await old.handoff.reach('node-2')).toBe(false);
  });

  it('reports stray shards: a part imported makes one, a drop ends it, and a later import makes it again', async () => {
    const old = await node(
      a,
      'node-1',
      Array.from({ length: SHARDS }, (_, i) => i),
    );
    const next = await node(b, 'node-2', []);
    const shard = shardOf('u0', SHARDS);
    await old.ingest({ epoch: 1, items: [item(ev('follow', 'u0', { target: 'u1' }))] });
    await old.handoff.begin(shard);
    const part = await old.handoff.export(shard, 1000);
    expect(await next.handoff.strays()).toEqual([]);
    await next.handoff.import(shard, part.frame);
    expect(await next.handoff.strays()).toEqual([shard]);
    await next.handoff.drop(shard, 1000);
    expect(await next.handoff.strays()).toEqual([]);
    // Known empty since the drop; an import must make it count again.
    await next.handoff.import(shard, part.frame);
    expect(await next.handoff.strays()).toEqual([shard]);
    await next.handoff.drop(shard);
    expect(await next.handoff.strays()).toEqual([]);
    expect(await rows(b, shard)).toEqual([]);
    // A check that overlaps an import of the shard does not remember it as empty, whatever it read.
    await Promise.all([next.handoff.import(shard, part.frame), next.handoff.strays()]);
    expect(await next.handoff.strays()).toEqual([shard]);
  });
});
