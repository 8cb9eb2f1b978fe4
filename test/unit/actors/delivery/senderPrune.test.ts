import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelError } from '../../../../actors/delivery/channels/ChannelError';
import { DeliveryQueue } from '../../../../actors/delivery/DeliveryQueue';
import { Sender } from '../../../../actors/delivery/Sender';
import { DEFAULT_CONFIG } from '../../../../core/config';
import { createLogger } from '../../../../core/logger';
import type { DeliveryJob } from '../../../../core/OutboundDelivery';
import { waitFor } from '../../../support/waitFor';
import { tempStore } from '../helpers';

const job = (to: string, offset: number): DeliveryJob => ({
  channel: 'push',
  user: 'ana',
  to,
  notification: { offset, type: 'follow', actors: ['bo'], ts: 1 } as DeliveryJob['notification'],
  priority: 1,
  dueAt: 0,
  attempts: 0,
});

/** A send the push provider refuses: 410 Gone prunes the token, any other refusal only dead-letters the send. */
describe('Sender: a push token the provider says is gone', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  beforeEach(async () => {
    box = await tempStore();
  });
  afterEach(() => box.dispose());

  it('asks to prune the token on 410, counts it, and does not on another refusal', async () => {
    const queue = new DeliveryQueue(box.store);
    await box.store.durable.write([DeliveryQueue.enqueueOp(1, job('tok-gone-0001', 1)), DeliveryQueue.enqueueOp(1, job('tok-bad-0002', 2))]);
    const refuse = (to: string) =>
      new ChannelError('HERALD_PROVIDER_REJECTED', 'push', `push to ${to}: refused`, to === 'tok-gone-0001' ? { status: 410 } : { status: 400 });
    const port = { send: async (j: DeliveryJob) => Promise.reject(refuse(j.to)) };
    const pruned: string[] = [];
    const sender = new Sender(
      queue,
      new Map([['push', port]]),
      { ...DEFAULT_CONFIG.sender, concurrency: 1 },
      createLogger('test', 'silent'),
      () => [1],
      async (j, reason) => (pruned.push(`${j.user} ${j.to} ${reason}`), true),
    );
    sender.start();
    try {
      await waitFor('both sends dead-lettered', () => sender.counters.push.dead === 2);
      expect(pruned).toEqual(['ana tok-gone-0001 HERALD_PROVIDER_REJECTED 410']);
      expect(sender.counters.push).toMatchObject({ dead: 2, pruned: 1 });
    } finally {
      sender.stop();
    }
  });
});
