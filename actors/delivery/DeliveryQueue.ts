import { createHash } from 'node:crypto';
import { pack } from '../../core/Codec';
import type { Op } from '../../storage/GroupCommit';
import { HIGH, SEP, kindRange, seqKey, shardOfKey, shardPrefix } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import type { DeadLetter, DeliveryJob, OutboundChannel } from '../../core/OutboundDelivery';

/** `<shard>!q!`: the queue's part of a shard. */
const queueBase = (shard: number) => shardPrefix(shard) + 'q' + SEP;
/** `<shard>!l!`: the dead letters' part of a shard. */
const deadBase = (shard: number) => shardPrefix(shard) + 'l' + SEP;

/**
 * A node's persistent delivery queues, one per channel and shard, ordered by priority then due time
 * (`<shard>!q!<channel>!<priority>!<dueAt>!<user>!<offset>!<address hash>`), and its dead letters
 * (`<shard>!l!…`). Both live under the recipient's shard, so they move with it (docs/rebalancing.md). Jobs are
 * written in the same atomic batch as the timeline entry they send, so a crash never loses a decided send.
 */
export class DeliveryQueue {
  constructor(
    private readonly store: NodeStore,
    /**
     * Whether this node serves a shard (owned, not frozen for a move). A send that ends after its shard froze
     * writes nothing: the job moved with the shard, still queued, and its new owner sends it again (same id).
     */
    private readonly serves: (shard: number) => boolean = () => true,
  ) {}

  static keyOf(shard: number, job: DeliveryJob): string {
    const addr = createHash('md5').update(job.to).digest('hex').slice(0, 8);
    return queueBase(shard) + [job.channel, job.priority, seqKey(job.dueAt), job.user, seqKey(job.notification.offset), addr].join(SEP);
  }

  static enqueueOp(shard: number, job: DeliveryJob): Op {
    return { type: 'put', key: DeliveryQueue.keyOf(shard, job), value: pack(job) };
  }

  /** What orders a queued job among every shard's: its key past the shard and channel (priority, due time, …). */
  static orderOf(key: string, channel: OutboundChannel): string {
    return key.slice(queueBase(0).length + channel.length + 1);
  }

  /** The first `limit` jobs of a channel in one shard (of one priority, if given), in queue order, due or not. */
  head(shard: number, channel: OutboundChannel, priority: number | undefined, limit: number): Promise<Array<[string, DeliveryJob]>> {
    const base = queueBase(shard) + channel + SEP + (priority === undefined ? '' : priority + SEP);
    return this.store.scan<DeliveryJob>({ gte: base, lt: base + HIGH, limit });
  }

  /** Whether a job is still queued (a synchronous read: sees every write that has completed). */
  has(key: string): boolean {
    return this.store.db.getSync(key) !== undefined;
  }

  /** A sent job is deleted (unless its shard left meanwhile: then the new owner's copy of it stays queued). */
  done(key: string): Promise<void> {
    if (!this.serves(shardOfKey(key))) return Promise.resolve();
    return this.store.durable.write([{ type: 'del', key }]);
  }

  /** Puts a failed job back, due again at `dueAt`, in one atomic batch (in the same shard). */
  retry(key: string, job: DeliveryJob, dueAt: number, error: string): Promise<void> {
    if (!this.serves(shardOfKey(key))) return Promise.resolve();
    const next: DeliveryJob = { ...job, attempts: job.attempts + 1, dueAt, lastError: error };
    return this.store.durable.write([{ type: 'del', key }, DeliveryQueue.enqueueOp(shardOfKey(key), next)]);
  }

  /** Moves a job to the dead letters of its shard. Its id starts with the shard, so a replay finds it. */
  bury(key: string, job: DeliveryJob, error: string, now: number): Promise<void> {
    const shard = shardOfKey(key);
    if (!this.serves(shard)) return Promise.resolve();
    const id = shardPrefix(shard) + seqKey(now) + SEP + key.slice(queueBase(shard).length);
    const letter: DeadLetter = { id, job: { ...job, attempts: job.attempts + 1, lastError: error }, error, failedAt: now };
    return this.store.durable.write([
      { type: 'del', key },
      { type: 'put', key: DeliveryQueue.deadKeyOf(id), value: pack(letter) },
    ]);
  }

  /** A dead letter's key from its id (`<shard>!<failedAt>!…` → `<shard>!l!<failedAt>!…`). */
  static deadKeyOf(id: string): string {
    return deadBase(shardOfKey(id)) + id.slice(shardPrefix(0).length);
  }

  /** The dead letters of these shards (the node's own), at most `limit`. */
  async deadLetters(shards: Iterable<number>, limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const shard of [...shards].sort((x, y) => x - y)) {
      if (out.length >= limit) break;
      for (const [, v] of await this.store.scan<DeadLetter>({ ...kindRange(shard, 'l'), limit: limit - out.length })) out.push(v);
    }
    return out;
  }

  /** Queues dead letters of these shards again (all, or those ids), due now with their attempts reset. */
  async replay(shards: Iterable<number>, ids: string[] | undefined, now: number): Promise<number> {
    const letters = (await this.deadLetters(shards, 100_000)).filter((l) => !ids || ids.includes(l.id));
    const ops: Op[] = [];
    for (const l of letters) {
      const shard = shardOfKey(l.id);
      ops.push(
        { type: 'del', key: DeliveryQueue.deadKeyOf(l.id) },
        DeliveryQueue.enqueueOp(shard, { ...l.job, attempts: 0, dueAt: now, lastError: undefined }),
      );
    }
    await this.store.durable.write(ops);
    return letters.length;
  }
}
