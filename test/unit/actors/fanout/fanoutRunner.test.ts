import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeraldEvent } from '../../../../core/Event';
import { FanoutRunner, type FanoutJob } from '../../../../actors/fanout/FanoutRunner';
import type { FanoutBatch } from '../../../../core/Fanout';
import { pack, unpack } from '../../../../core/Codec';
import { followerKey, shardOf, shardPrefix, userKey } from '../../../../storage/Keyspace';
import { createLogger } from '../../../../core/logger';
import { SHARDS, tempStore } from '../helpers';
import { waitFor } from '../../../support/waitFor';

const log = createLogger('test', 'silent');
const AUTHOR = 'celeb';
const SHARD = shardOf(AUTHOR, SHARDS);
const JOB_KEY = userKey(SHARD, 'j', AUTHOR, 'ev1');
const event: HeraldEvent = { id: 'ev1', type: 'tweet', actor: AUTHOR, tweet: { id: 'tw1', author: AUTHOR, text: 'hi' } };
// Followers in key order (the order the runner pages them).
const FOLLOWERS = Array.from({ length: 50 }, (_, i) => `f${String(i).padStart(2, '0')}`);
const OWNERS = Array.from({ length: SHARDS }, (_, s) => (s % 2 ? 'n2' : 'n1'));
/** The followers in the order the author streams them: their keys' order, by shard, then id. */
const suffix = (f: string) => shardPrefix(shardOf(f, SHARDS)) + f;
const ORDERED = [...FOLLOWERS].sort((a, b) => (suffix(a) < suffix(b) ? -1 : 1));
/** Pages are 10 followers in that order. */
const pageOf = (f: string) => Math.floor(ORDERED.indexOf(f) / 10);

// The author's side: pages in flight, confirmed in order, the cursor saved only up to the last page confirmed with all before it.
describe('FanoutRunner', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  const runners: FanoutRunner[] = [];

  beforeEach(async () => {
    box = await tempStore();
    await box.store.durable.write([
      ...FOLLOWERS.map((f) => ({ type: 'put' as const, key: followerKey(SHARD, AUTHOR, shardOf(f, SHARDS), f), value: pack(0) })),
      { type: 'put', key: JOB_KEY, value: pack({ event, cursor: '', done: 0 } satisfies FanoutJob) },
    ]);
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.stop(100);
    await box.dispose();
  });

  /**
   * A runner whose sends wait until the test releases them; each send is recorded with its page's first follower.
   * `inFlight.max`: the most pages ever out at once, counted at each send (a page is out until the test settles it).
   */
  function runner(pagesInFlight: number) {
    const sent: Array<{ node: string; batch: FanoutBatch; release: (ok: boolean) => void; settled: boolean }> = [];
    const inFlight = { max: 0 };
    const r = new FanoutRunner({
      store: box.store,
      shardCount: SHARDS,
      log,
      pageSize: 10,
      pagesInFlight,
      table: () => ({ epoch: 1, owners: OWNERS, owned: new Set([SHARD]) }),
      send: (node, batch) =>
        new Promise((resolve, reject) => {
          const s = {
            node,
            batch,
            settled: false,
            release: (ok: boolean) => ((s.settled = true), ok ? resolve({ decided: batch.followers.length, notified: 1 }) : reject(new Error('node down'))),
          };
          sent.push(s);
          inFlight.max = Math.max(inFlight.max, new Set(sent.filter((x) => !x.settled).map((x) => pageOf(x.batch.followers[0]))).size);
        }),
    });
    runners.push(r);
    return { r, sent, inFlight };
  }
  const until = (what: string, cond: () => boolean) => waitFor(what, cond, { timeoutMs: 5000, everyMs: 2 });
  const savedJob = () => box.store.getSync<FanoutJob>(JOB_KEY);
  /** The cursor of every save of the job, in the order written. */
  const savedCursors = () => {
    const cursors: string[] = [];
    const write = box.store.durable.write.bind(box.store.durable);
    vi.spyOn(box.store.durable, 'write').mockImplementation((ops) => {
      for (const op of ops) if (op.type === 'put' && op.key === JOB_KEY) cursors.push((unpack(op.value) as FanoutJob).cursor);
      return write(ops);
    });
    return cursors;
  };
  /** Releases every send of page `p` (pages are 10 followers; a page is one send per node it touches). */
  const releasePage = (sent: ReturnType<typeof runner>['sent'], p: number, ok = true) => {
    for (const s of sent) if (pageOf(s.batch.followers[0]) === p) s.release(ok);
  };

  it('keeps pages in flight, sends each follower once with its shard, and saves the cursor in page order', async () => {
    const { r, sent, inFlight } = runner(3);
    const cursors = savedCursors();
    r.kick();
    // Three pages out before any is confirmed, never a fourth (inFlight.max, checked at the end).
    await until('3 pages out', () => new Set(sent.map((s) => pageOf(s.batch.followers[0]))).size === 3);
    // Each batch in the key order of the followers' own keys.
    for (const s of sent) expect(s.batch.followers).toEqual([...s.batch.followers].sort((a, b) => (suffix(a) < suffix(b) ? -1 : 1)));
    for (const s of sent) expect(s.batch.shards).toEqual(s.batch.followers.map((f) => shardOf(f, SHARDS)));
    for (const s of sent) for (const sh of s.batch.shards) expect(OWNERS[sh]).toBe(s.node);
    // Page 1 confirmed before page 0: the cursor must not move past page 0; once page 0 is, it moves over both,
    // in page order (a save on page 1's confirmation would come first).
    releasePage(sent, 1);
    releasePage(sent, 0);
    await until('the cursor past page 1', () => savedJob()?.cursor === suffix(ORDERED[19]));
    expect(savedJob()?.done).toBe(20);
    expect(cursors).toEqual([suffix(ORDERED[9]), suffix(ORDERED[19])]);
    // Release everything as it comes: the job finishes and is deleted.
    const pump = setInterval(() => sent.forEach((s) => s.release(true)), 2);
    await until('the job done', () => r.progress.jobs === 1);
    clearInterval(pump);
    expect(savedJob()).toBeUndefined();
    const all = sent.flatMap((s) => s.batch.followers).sort();
    expect(all).toEqual(FOLLOWERS);
    expect(r.progress).toMatchObject({ followers: 50, pages: 5, active: '' });
    expect(inFlight.max).toBe(3);
  });

  it('after a failed page, resumes from the last page confirmed with all before it: nothing skipped', async () => {
    const { r, sent } = runner(3);
    r.kick();
    await until('3 pages out', () => new Set(sent.map((s) => pageOf(s.batch.followers[0]))).size === 3);
    releasePage(sent, 0);
    releasePage(sent, 2);
    releasePage(sent, 1, false);
    await until('the cursor past page 0', () => savedJob()?.cursor === suffix(ORDERED[9]));
    // The retry (after its pause) sends again from page 1, page 2 included: those followers dedupe on their nodes.
    const before = sent.length;
    // (A page sent before the failure was seen is released too; releasing a settled send changes nothing.)
    const pump = setInterval(() => sent.forEach((s) => s.release(true)), 2);
    await until('the job done', () => r.progress.jobs === 1);
    clearInterval(pump);
    // Page 0 was confirmed and saved: never sent again. Everything after it was (page 3 may have gone out twice).
    const resent = new Set(sent.slice(before).flatMap((s) => s.batch.followers));
    expect([...resent].sort()).toEqual(ORDERED.slice(10).sort());
    expect(savedJob()).toBeUndefined();
  });

  it('skips follower keys without a shard (an older layout) and still sends every other follower', async () => {
    await box.store.durable.write([
      { type: 'put', key: userKey(SHARD, 'F', AUTHOR, 'zz-old'), value: pack(0) },
      { type: 'put', key: userKey(SHARD, 'F', AUTHOR, '00'), value: pack(0) },
    ]);
    const { r, sent } = runner(3);
    const pump = setInterval(() => sent.forEach((s) => s.release(true)), 2);
    try {
      r.kick();
      await until('the job done', () => r.progress.jobs === 1);
    } finally {
      clearInterval(pump);
    }
    expect(sent.flatMap((s) => s.batch.followers).sort()).toEqual(FOLLOWERS);
  });

  it("a kick naming shards looks only at their jobs; a kick without runs every owned shard's", async () => {
    const { r, sent } = runner(3);
    const other = (SHARD + 1) % SHARDS;
    const pump = setInterval(() => sent.forEach((s) => s.release(true)), 2);
    try {
      r.kick([other]); // no job there: nothing is sent
      await until('the runner idle', () => !r.progress.running);
      expect(sent).toHaveLength(0);
      r.kick([SHARD]);
      await until('the job done', () => r.progress.jobs === 1);
      expect(savedJob()).toBeUndefined();
      await box.store.durable.write([{ type: 'put', key: JOB_KEY, value: pack({ event, cursor: '', done: 0 } satisfies FanoutJob) }]);
      r.kick();
      await until('the second job done', () => r.progress.jobs === 2);
    } finally {
      clearInterval(pump);
    }
  });
});
