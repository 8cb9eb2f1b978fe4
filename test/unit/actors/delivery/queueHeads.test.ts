import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryQueue } from '../../../../actors/delivery/DeliveryQueue';
import { QueueHeads } from '../../../../actors/delivery/QueueHeads';
import type { DeliveryJob } from '../../../../core/OutboundDelivery';
import { tempStore } from '../helpers';

const job = (user: string, priority: 1 | 2 | 3, dueAt: number, offset = 1): DeliveryJob => ({
  channel: 'push',
  user,
  to: `tok-${user}`,
  notification: { offset, type: 'follow', actors: ['a'], ts: 1 } as DeliveryJob['notification'],
  priority,
  dueAt,
  attempts: 0,
});

/** The sender's view of a channel's queue over many shards: the node's order (priority, then due), little read. */
describe('QueueHeads', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  beforeEach(async () => {
    box = await tempStore();
  });
  afterEach(() => box.dispose());

  it('claims in priority then due order across shards, reads changed shards again, and drops a shard that left', async () => {
    const queue = new DeliveryQueue(box.store);
    await box.store.durable.write([
      DeliveryQueue.enqueueOp(3, job('c', 2, 10)),
      DeliveryQueue.enqueueOp(1, job('a', 2, 30)),
      DeliveryQueue.enqueueOp(2, job('b', 1, 50)),
      DeliveryQueue.enqueueOp(1, job('a', 1, 40, 2)),
      DeliveryQueue.enqueueOp(2, job('b', 3, 5, 2)),
      DeliveryQueue.enqueueOp(3, job('c', 1, 999, 2)), // not due yet
    ]);
    const heads = new QueueHeads(queue, 'push', 4);
    await heads.refresh([1, 2, 3]);
    const order = (limit = 10) => heads.due(100, () => true, limit).map(([, j]) => `${j.user}${j.priority}@${j.dueAt}`);
    expect(order()).toEqual(['a1@40', 'b1@50', 'c2@10', 'a2@30', 'b3@5']);
    expect(heads.nextDue(() => true)).toBe(5);
    // A long queue is read per priority: a job not yet due (c1@999) does not hide a due one of the next priority.
    const narrow = new QueueHeads(queue, 'push', 1);
    await narrow.refresh([3]);
    expect(narrow.due(100, () => true, 5).map(([, j]) => `${j.user}${j.priority}@${j.dueAt}`)).toEqual(['c2@10']);

    // A new job is seen once its shard is said to have changed; a shard that left is not sent from.
    await box.store.durable.write([DeliveryQueue.enqueueOp(3, job('c', 1, 1, 3))]);
    await heads.refresh([1, 2, 3]);
    expect(order(1)).toEqual(['a1@40']);
    heads.changed([3]);
    await heads.refresh([1, 2, 3]);
    expect(order(1)).toEqual(['c1@1']);
    await heads.refresh([2, 3]);
    expect(order()).toEqual(['c1@1', 'b1@50', 'c2@10', 'b3@5']);
  });
});
