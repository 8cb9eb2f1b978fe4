import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { involvedUsers, type HeraldEvent } from '../../../../core/Event';
import { NodeActor } from '../../../../actors/node/NodeActor';
import { DeliveryQueue } from '../../../../actors/delivery/DeliveryQueue';
import type { DeadLetter, DeliveryJob } from '../../../../core/OutboundDelivery';
import { pack } from '../../../../core/Codec';
import { HIGH, seqKey, shardOf, shardPrefix } from '../../../../storage/Keyspace';
import { createLogger } from '../../../../core/logger';
import { ev, nodeOptions, SHARDS, tempStore } from '../helpers';

const log = createLogger('test', 'silent');
const ALL = Array.from({ length: SHARDS }, (_, i) => i);

/** A data dir of an earlier version kept sends, dead letters and explain records at node level (`~q`, `~dlq`, `~tw`). */
describe('node-level keys of an earlier version', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  const nodes: NodeActor[] = [];
  const start = async () => {
    const n = new NodeActor(box.store, nodeOptions(), log);
    nodes.push(n);
    await n.start();
    n.setTable(1, ALL);
    return n;
  };
  beforeEach(async () => {
    box = await tempStore();
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop().catch(() => {});
    await box.dispose();
  });

  it('move under their shards at start, once', async () => {
    const follow = (actor: string, target: string): HeraldEvent => ev('follow', actor, { target });
    const first = await start();
    await first.ingest({ epoch: 1, items: [follow('alice', 'bob')].map((event) => ({ event, users: involvedUsers(event) })) });
    await first.stop();
    await box.reopen();
    const job = (user: string, offset: number): DeliveryJob => ({
      channel: 'push',
      user,
      to: 'token',
      notification: { offset, type: 'follow', actors: ['alice'], ts: 1, text: 'alice followed you' } as DeliveryJob['notification'],
      priority: 1,
      dueAt: 5,
      attempts: 0,
    });
    const letter: DeadLetter = { id: seqKey(9) + '!push!1!x', job: job('bob', 2), error: 'gone', failedAt: 9 };
    await box.store.db.batch([
      { type: 'put', key: '~q!push!1!' + seqKey(5) + '!bob!' + seqKey(1) + '!aaaa', value: pack(job('bob', 1)) },
      { type: 'put', key: '~dlq!' + letter.id, value: pack(letter) },
      { type: 'put', key: '~tw!t1', value: pack({ id: 'e1', author: 'carol', entities: [] }) },
    ]);

    const node = await start();
    expect(await box.store.db.keys({ gt: '~', lt: '~' + HIGH }).all()).not.toContainEqual(expect.stringMatching(/^~(q|dlq|tw)!/));
    const bob = shardOf('bob', SHARDS);
    expect(box.store.db.getSync(DeliveryQueue.keyOf(bob, job('bob', 1)))).toBeDefined();
    expect(await node.deadLetters(10)).toEqual([{ ...letter, id: shardPrefix(bob) + letter.id }]);
    // The explain record goes to every shard the node held (here bob's and alice's).
    expect(node.followers.explain('bob', 't1').author).toBe('carol');
    expect(node.followers.explain('alice', 't1').author).toBe('carol');
    expect(await node.replayDeadLetters()).toBe(1);
    expect(await node.deadLetters(10)).toEqual([]);
  });
});
