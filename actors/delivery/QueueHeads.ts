import type { DeliveryJob, OutboundChannel } from '../../core/OutboundDelivery';
import { DeliveryQueue } from './DeliveryQueue';

const PRIORITIES = [1, 2, 3] as const;

/**
 * One channel's queue over the shards a node serves, as the sender sees it: the first jobs of each shard and
 * priority (the queue's key order: due time), kept in memory and read again only for shards whose queue changed
 * (new jobs, a job finished) or that the node just gained. A claim then compares a few jobs per shard in memory
 * instead of scanning every shard's queue, and keeps the order of the whole node: priority, then due time.
 */
export class QueueHeads {
  /** shard → per priority, its first `depth` jobs (oldest due first). */
  private readonly heads = new Map<number, Array<Array<[string, DeliveryJob]>>>();
  private readonly stale = new Set<number>();
  /** Reads in progress, by shard: concurrent workers wait for the same one. */
  private readonly reading = new Map<number, Promise<void>>();

  constructor(
    private readonly queue: DeliveryQueue,
    private readonly channel: OutboundChannel,
    /** Jobs cached per shard and priority: more than the workers can hold claimed at once. */
    private readonly depth: number,
  ) {}

  /** These shards' queues (all, if not said) may have changed: read them again at the next refresh. */
  changed(shards?: Iterable<number>): void {
    for (const s of shards ?? this.heads.keys()) this.stale.add(s);
  }

  /** Follows the served shards: drops those that left (nothing is sent from them), reads new and changed ones. */
  async refresh(serving: Iterable<number>): Promise<void> {
    const served = new Set(serving);
    for (const s of this.heads.keys()) if (!served.has(s)) this.heads.delete(s);
    const reads: Array<Promise<void>> = [];
    for (const s of served) {
      const pending = this.reading.get(s);
      if (!this.stale.has(s) && (this.heads.has(s) || pending)) {
        if (pending) reads.push(pending);
        continue;
      }
      this.stale.delete(s);
      // A change seen during a read is read again after it: that read may predate the change.
      const read: Promise<void> = (pending ?? Promise.resolve()).then(() => this.read(s, served));
      this.reading.set(s, read);
      void read.finally(() => this.reading.get(s) === read && this.reading.delete(s)).catch(() => undefined);
      reads.push(read);
    }
    await Promise.all(reads);
  }

  private async read(shard: number, served: ReadonlySet<number>): Promise<void> {
    // One scan over the channel is the whole queue when it is short (the usual case: empty); a longer one is read
    // per priority, so that jobs not yet due of one priority never hide the due ones of the next.
    const all = await this.queue.head(shard, this.channel, undefined, this.depth);
    const lists =
      all.length < this.depth
        ? PRIORITIES.map((p) => all.filter(([, job]) => job.priority === p))
        : await Promise.all(PRIORITIES.map((p) => this.queue.head(shard, this.channel, p, this.depth)));
    // A shard that left while it was read stays out.
    if (served.has(shard)) this.heads.set(shard, lists);
  }

  /** At most `limit` due jobs `free` accepts, best first: highest priority, then oldest due, over every shard. */
  due(now: number, free: (key: string) => boolean, limit: number): Array<[string, DeliveryJob]> {
    const out: Array<[string, DeliveryJob]> = [];
    for (let p = 0; p < PRIORITIES.length && out.length < limit; p++) {
      const found: Array<[string, DeliveryJob]> = [];
      for (const lists of this.heads.values()) {
        for (const entry of lists[p]) {
          if (entry[1].dueAt > now) break;
          if (free(entry[0])) {
            found.push(entry);
            if (found.length >= limit) break;
          }
        }
      }
      found.sort((x, y) => compare(DeliveryQueue.orderOf(x[0], this.channel), DeliveryQueue.orderOf(y[0], this.channel)));
      out.push(...found.slice(0, limit - out.length));
    }
    return out;
  }

  /** When the first job `free` accepts is due, over every shard, if any (the sender sleeps until then). */
  nextDue(free: (key: string) => boolean): number | undefined {
    let next: number | undefined;
    for (const lists of this.heads.values())
      for (const list of lists) {
        const first = list.find(([key]) => free(key));
        if (first && (next === undefined || first[1].dueAt < next)) next = first[1].dueAt;
      }
    return next;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
