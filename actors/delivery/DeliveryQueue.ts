import { createHash } from 'node:crypto';
import { pack } from '../../core/Codec';
import type { Op } from '../../storage/GroupCommit';
import { HIGH, SEP, seqKey } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import type { DeadLetter, DeliveryJob, OutboundChannel } from '../../core/OutboundDelivery';

const QUEUE = '~q' + SEP;
const DEAD = '~dlq' + SEP;

/**
 * A node's persistent delivery queues, one per channel, ordered by priority then due time
 * (`~q!<channel>!<priority>!<dueAt>!<user>!<offset>!<address hash>`), and its dead-letter store. Jobs are written
 * in the same atomic batch as the timeline entry they send, so a crash never loses a decided send.
 */
export class DeliveryQueue {
  constructor(private readonly store: NodeStore) {}

  static keyOf(job: DeliveryJob): string {
    const addr = createHash('md5').update(job.to).digest('hex').slice(0, 8);
    return QUEUE + [job.channel, job.priority, seqKey(job.dueAt), job.user, seqKey(job.notification.offset), addr].join(SEP);
  }

  static enqueueOp(job: DeliveryJob): Op {
    return { type: 'put', key: DeliveryQueue.keyOf(job), value: pack(job) };
  }

  /** Due jobs of a channel, highest priority first, then oldest due; at most `limit`. */
  async due(channel: OutboundChannel, now: number, limit: number): Promise<Array<[string, DeliveryJob]>> {
    const out: Array<[string, DeliveryJob]> = [];
    for (const priority of [1, 2, 3]) {
      const base = QUEUE + channel + SEP + priority + SEP;
      out.push(...(await this.store.scan<DeliveryJob>({ gte: base, lt: base + seqKey(now + 1), limit: limit - out.length })));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** When the next job of a channel is due (for the sender to sleep until then), if any. */
  async nextDue(channel: OutboundChannel): Promise<number | undefined> {
    let next: number | undefined;
    for (const priority of [1, 2, 3]) {
      const base = QUEUE + channel + SEP + priority + SEP;
      const [first] = await this.store.scan<DeliveryJob>({ gte: base, lt: base + HIGH, limit: 1 });
      if (first && (next === undefined || first[1].dueAt < next)) next = first[1].dueAt;
    }
    return next;
  }

  /** Whether a job is still queued (a synchronous read: sees every write that has completed). */
  has(key: string): boolean {
    return this.store.db.getSync(key) !== undefined;
  }

  done(key: string): Promise<void> {
    return this.store.durable.write([{ type: 'del', key }]);
  }

  /** Puts a failed job back, due again at `dueAt`, in one atomic batch. */
  retry(key: string, job: DeliveryJob, dueAt: number, error: string): Promise<void> {
    const next: DeliveryJob = { ...job, attempts: job.attempts + 1, dueAt, lastError: error };
    return this.store.durable.write([{ type: 'del', key }, DeliveryQueue.enqueueOp(next)]);
  }

  /** Moves a job to the dead letters. */
  bury(key: string, job: DeliveryJob, error: string, now: number): Promise<void> {
    const id = seqKey(now) + SEP + key.slice(QUEUE.length);
    const letter: DeadLetter = { id, job: { ...job, attempts: job.attempts + 1, lastError: error }, error, failedAt: now };
    return this.store.durable.write([
      { type: 'del', key },
      { type: 'put', key: DEAD + id, value: pack(letter) },
    ]);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return (await this.store.scan<DeadLetter>({ gt: DEAD, lt: DEAD + HIGH, limit })).map(([, v]) => v);
  }

  /** Queues dead letters again (all, or those ids), due now with their attempts reset. */
  async replay(ids: string[] | undefined, now: number): Promise<number> {
    const letters = (await this.deadLetters(100_000)).filter((l) => !ids || ids.includes(l.id));
    const ops: Op[] = [];
    for (const l of letters) ops.push({ type: 'del', key: DEAD + l.id }, DeliveryQueue.enqueueOp({ ...l.job, attempts: 0, dueAt: now, lastError: undefined }));
    await this.store.durable.write(ops);
    return letters.length;
  }

  /** Jobs waiting per channel (a scan: for status and metrics, not the hot path). */
  async depth(channel: OutboundChannel): Promise<number> {
    const base = QUEUE + channel + SEP;
    return (await this.store.db.keys({ gt: base, lt: base + HIGH, limit: 1_000_000 }).all()).length;
  }
}
