import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { involvedUsers, type HeraldEvent } from '../../../../core/Event';
import { NodeActor } from '../../../../actors/node/NodeActor';
import type { IngestItem } from '../../../../core/nodeProtocol';
import { pack, unpack } from '../../../../core/Codec';
import { LOG_PREFIX, HIGH, seqKey, shardOf } from '../../../../storage/Keyspace';
import { createLogger } from '../../../../core/logger';
import { ev, nodeOptions, SHARDS, tempStore, tweet } from '../helpers';

const log = createLogger('test', 'silent');
const ALL = Array.from({ length: SHARDS }, (_, i) => i);
const item = (event: HeraldEvent): IngestItem => ({ event, users: involvedUsers(event) });

describe('NodeActor', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  const nodes: NodeActor[] = [];

  async function startNode(shards = ALL, epoch = 1) {
    const node = new NodeActor(box.store, nodeOptions(), log);
    nodes.push(node);
    await node.start();
    node.setTable(epoch, shards);
    return node;
  }
  const logKeys = async () => (await box.store.scan({ gt: LOG_PREFIX, lt: LOG_PREFIX + HIGH })).map(([k]) => k);

  beforeEach(async () => {
    box = await tempStore();
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const n of nodes.splice(0)) await n.stop().catch(() => {});
    await box.dispose();
  });

  it('applies a batch and returns the deliveries', async () => {
    const node = await startNode();
    const like = ev('like', 'alice', { tweet: tweet('bob'), target: 'bob' });
    const follow = ev('follow', 'carol', { target: 'bob' });
    const queued: string[] = [];
    box.store.durable.onWrite = (ops) => queued.push(...ops.map((o) => `${o.type} ${o.key.startsWith(LOG_PREFIX) ? 'log' : 'effect'}`));
    const res = await node.ingest({ epoch: 1, items: [item(like), item(follow)] });
    await box.store.durable.drain();
    // The batch is logged before any effect (queued first on the same ordered writer); its entry goes once they landed.
    expect(queued[0]).toBe('put log');
    expect(queued.slice(1, -1).every((q) => q.endsWith('effect'))).toBe(true);
    expect(queued.at(-1)).toBe('del log');
    expect(res.errors).toEqual([null, null]);
    expect(res.deliveries.map((d) => [d.user, d.notification.type, d.notification.offset])).toEqual([
      ['bob', 'like', 1],
      ['bob', 'follow', 2],
    ]);
    const page = await node.timeline('bob', undefined, 10);
    expect(page).toMatchObject({ offset: 2, unread: 2, read: 0 });
    expect(page.items.map((n) => n.offset)).toEqual([2, 1]);
    expect(await node.markRead('bob', 1)).toEqual({ offset: 2, unread: 1, read: 1 });
    await box.store.applied.drain();
    expect(await logKeys()).toEqual([]);
  });

  it('logs the items as the gateway packed them when it accepts all of them, else packs the accepted ones', async () => {
    const bobShard = shardOf('bob', SHARDS);
    const node = await startNode(ALL.filter((s) => s !== bobShard));
    const logged: Uint8Array[] = [];
    box.store.durable.onWrite = (ops) => {
      for (const o of ops) if (o.type === 'put' && o.key.startsWith(LOG_PREFIX)) logged.push(o.value);
    };
    const toCarol = [item(ev('like', 'alice', { tweet: tweet('carol') }))];
    const packed = pack(toCarol);
    await node.ingest({ epoch: 1, items: toCarol, packed });
    expect(logged[0]).toBe(packed);
    const mixed = [item(ev('like', 'alice', { tweet: tweet('bob') })), item(ev('like', 'dave', { tweet: tweet('carol') }))];
    const res = await node.ingest({ epoch: 1, items: mixed, packed: pack(mixed) });
    expect(res.errors).toEqual(['HERALD_WRONG_OWNER', null]);
    expect(unpack(logged[1])).toEqual([mixed[1]]);
  });

  it('dedupes a retried event, also after the actor was passivated', async () => {
    const node = await startNode();
    const like = ev('like', 'alice', { tweet: tweet('bob') });
    const first = await node.ingest({ epoch: 1, items: [item(like)] });
    // The retry applies nothing new, and answers the entry the first one made (delivered again if it was lost).
    const retry = await node.ingest({ epoch: 1, items: [item({ ...like })] });
    expect(retry).toEqual(first);
    expect(node.passivateIdle(Date.now() + 60_000)).toBeGreaterThan(0);
    expect(node.stats().activeUsers).toBe(0);
    const again = await node.ingest({ epoch: 1, items: [item({ ...like })] });
    expect(again).toEqual(first);
    expect((await node.timeline('bob', undefined, 10)).items).toHaveLength(1);
  });

  it('refuses items for shards it does not own, or routed with another epoch (HERALD_WRONG_OWNER)', async () => {
    const bobShard = shardOf('bob', SHARDS);
    const aliceShard = shardOf('alice', SHARDS);
    expect(bobShard).not.toBe(aliceShard);
    const node = await startNode(
      ALL.filter((s) => s !== bobShard),
      3,
    );

    const stale = await node.ingest({ epoch: 2, items: [item(ev('like', 'alice', { tweet: tweet('carol') }))] });
    expect(stale).toEqual({ errors: ['HERALD_WRONG_OWNER'], deliveries: [] });

    const toBob = ev('like', 'alice', { tweet: tweet('bob') });
    const toCarol = ev('like', 'alice', { tweet: tweet('carol') });
    const res = await node.ingest({ epoch: 3, items: [item(toBob), item(toCarol)] });
    expect(res.errors).toEqual(['HERALD_WRONG_OWNER', null]);
    expect(res.deliveries.map((d) => d.user)).toEqual(['carol']);
    // A delivery names the batch item that made it (the gateway's latency metric), refused items counted.
    expect(res.deliveries.map((d) => d.item)).toEqual([1]);
    expect(unpack(res.deliveries[0].packed!)).toEqual(res.deliveries[0].notification);
    expect(() => node.timeline('bob', undefined, 10)).toThrow(expect.objectContaining({ code: 'HERALD_WRONG_OWNER' }));
    expect(node.stats().epoch).toBe(3);
  });

  it('replays an ingest log entry on start exactly once and deletes it', async () => {
    const like = ev('like', 'alice', { tweet: tweet('bob') });
    const follow = ev('follow', 'alice', { target: 'bob' });
    const key = LOG_PREFIX + seqKey(7);
    await box.store.db.put(key, pack([item(like), item(follow)]));

    const node = await startNode();
    expect(node.stats().replayed).toBe(2);
    expect(box.store.db.getSync(key)).toBeUndefined();
    const page = await node.timeline('bob', undefined, 10);
    expect(page.items.map((n) => [n.offset, n.type])).toEqual([
      [2, 'follow'],
      [1, 'like'],
    ]);

    // Restart over the same data: nothing left to replay, nothing applied twice.
    await node.stop();
    await box.reopen();
    const node2 = await startNode();
    expect(node2.stats().replayed).toBe(0);
    expect((await node2.timeline('bob', undefined, 10)).offset).toBe(2);
  });

  it('replaying a batch that was already applied changes nothing', async () => {
    const node = await startNode();
    const items = [item(ev('reply', 'alice', { tweet: tweet('bob') })), item(ev('mention', 'carol', { tweet: tweet('carol', { mentions: ['bob'] }) }))];
    await node.ingest({ epoch: 1, items });
    await node.stop();

    // A crash after the effects landed but before the log delete did: the entry is still there.
    await box.reopen();
    const key = LOG_PREFIX + seqKey(1);
    await box.store.db.put(key, pack(items));
    const node2 = await startNode();
    expect(node2.stats().replayed).toBe(2);
    expect(box.store.db.getSync(key)).toBeUndefined();
    const page = await node2.timeline('bob', undefined, 10);
    expect(page.offset).toBe(2);
    expect(page.items.map((n) => n.type)).toEqual(['mention', 'reply']);
  });

  describe('dedupe window', () => {
    const DAY = 24 * 3600 * 1000;
    const T0 = Date.parse('2030-01-01T00:00:00Z');

    it('sweeps dedupe keys applied before the window; a retry after that applies again', async () => {
      vi.useFakeTimers({ toFake: ['Date'], now: T0 });
      const node = await startNode();
      const like = ev('like', 'alice', { tweet: tweet('bob'), ts: T0 });
      await node.ingest({ epoch: 1, items: [item(like)] });
      vi.setSystemTime(T0 + 2 * DAY);
      expect(await node.sweepDedupe(Date.now() - DAY)).toBe(2); // alice's and bob's copies
      node.passivateIdle(Date.now() + 60_000);
      const retry = await node.ingest({ epoch: 1, items: [item({ ...like })] });
      expect(retry.deliveries.map((d) => d.notification.offset)).toEqual([2]);
    });

    // BUG (actors/user/UserActor.ts apply): the dedupe key stores the event's own ts, not when it was applied, so an
    // event carrying an old ts (backfill, skewed producer clock) is forgotten by the very next sweep and a retry
    // inside the window applies twice; one with a future ts is never swept.
    it('measures the window from when the event was applied, not from its ts', async () => {
      vi.useFakeTimers({ toFake: ['Date'], now: T0 });
      const node = await startNode();
      const old = ev('like', 'alice', { tweet: tweet('bob'), ts: T0 - 3 * DAY });
      const first = await node.ingest({ epoch: 1, items: [item(old)] });
      expect(await node.sweepDedupe(Date.now() - DAY)).toBe(0);
      node.passivateIdle(Date.now() + 60_000);
      expect(await node.ingest({ epoch: 1, items: [item({ ...old })] })).toEqual(first); // still a duplicate
      expect((await node.timeline('bob', undefined, 10)).items).toHaveLength(1);
    });
  });
});
