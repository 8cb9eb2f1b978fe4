import { describe, expect, it } from 'vitest';
import type { HeraldEvent } from '../../../core/Event';
import type { IngestItem } from '../../../core/nodeProtocol';
import { Router } from '../../../gateway/Router';
import { ShardTable } from '../../../cluster/ShardTable';
import { ringAllocation } from '../../../cluster/RingAllocation';
import { HeraldError } from '../../../core/HeraldError';
import { shardOf } from '../../../storage/Keyspace';

/** Channels that record what they were sent and answer with `answer(item, attempt)`. */
function cluster(answer: (node: string, item: IngestItem, sends: number) => string | null | 'overloaded') {
  const table = ShardTable.create(64, [{ id: 'n1' }, { id: 'n2' }, { id: 'n3' }], ringAllocation);
  const sent: Array<{ node: string; item: IngestItem }> = [];
  const channels = new Map(
    ['n1', 'n2', 'n3'].map((node) => [
      node,
      {
        send: (item: IngestItem) => {
          sent.push({ node, item });
          const a = answer(node, item, sent.filter((s) => s.item.event === item.event).length);
          return a === 'overloaded' ? Promise.reject(new HeraldError('HERALD_OVERLOADED', 'full')) : Promise.resolve(a);
        },
      },
    ]),
  );
  const coordinator = { table, channels, waitForShard: () => undefined };
  return { router: new Router(coordinator as never), sent, table };
}

const like = (i: number): HeraldEvent => ({ id: `e${i}`, type: 'like', actor: `fan-${i}`, target: `r-${i % 7}`, tweet: { id: `t${i}`, author: `r-${i % 7}` } });

describe('Router.publish', () => {
  it('sends each event once to each owning node with the users that node owns', async () => {
    const { router, sent, table } = cluster(() => null);
    const events = Array.from({ length: 50 }, (_, i) => like(i));
    expect(await router.publish(events)).toBe(50);
    for (const e of events) {
      const mine = sent.filter((s) => s.item.event === e);
      const users = mine.flatMap((s) => s.item.users).sort();
      expect(users).toEqual([e.actor, e.target!].sort());
      for (const s of mine) for (const u of s.item.users) expect(table.ownerOf(shardOfUser(table, u))).toBe(s.node);
      expect(new Set(mine.map((s) => s.node)).size).toBe(mine.length);
    }
  });

  it("re-routes only the shares refused as not the node's own, then succeeds", async () => {
    const { router, sent } = cluster((_, item, sends) => (item.event.id === 'e3' && sends === 1 ? 'HERALD_WRONG_OWNER' : null));
    await router.publish([like(1), like(3)]);
    const e1 = sent.filter((s) => s.item.event.id === 'e1');
    const e3 = sent.filter((s) => s.item.event.id === 'e3');
    // e1 went once per owning node; e3's first share was refused and sent again, alone.
    expect(e1).toHaveLength(new Set(e1.map((s) => s.node)).size);
    expect(e3.length).toBe(new Set(e3.map((s) => s.node)).size + 1);
    expect(e3[e3.length - 1].item).toEqual(e3[0].item);
  });

  it('fails the publish with the code a node answered, and with HERALD_OVERLOADED from a full channel', async () => {
    const refused = cluster((_, item) => (item.event.id === 'e2' ? 'HERALD_UNAVAILABLE' : null));
    await expect(refused.router.publish([like(1), like(2)])).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    const full = cluster(() => 'overloaded');
    await expect(full.router.publish([like(1), like(2)])).rejects.toMatchObject({ code: 'HERALD_OVERLOADED' });
  });

  it('a node without a channel fails the publish, and what was already sent leaves no unhandled rejection', async () => {
    const { router, table } = cluster(() => 'overloaded');
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    // Drop the channel of the node owning r-0's shard: the second event's owner has no channel.
    const orphan = table.ownerOf(shardOfUser(table, 'r-0'));
    (router as unknown as { coordinator: { channels: Map<string, unknown> } }).coordinator.channels.delete(orphan);
    const first = [like(1), like(2), like(3), like(4), like(5), like(6)].find(
      (e) => table.ownerOf(shardOfUser(table, e.actor)) !== orphan && table.ownerOf(shardOfUser(table, e.target!)) !== orphan,
    )!;
    await expect(router.publish([first, like(7)])).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    // The channels' promises are settled already; Node reports an unhandled one once this turn's microtasks are
    // done, so one turn of the loop (not a time) is enough.
    await new Promise((r) => setImmediate(r));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });
});

const shardOfUser = (table: ShardTable, user: string) => shardOf(user, table.shardCount);
