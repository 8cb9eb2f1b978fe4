import type { SenderOptions } from '../../core/config';
import type { Logger } from '../../core/logger';
import { DeliveryQueue } from './DeliveryQueue';
import { QueueHeads } from './QueueHeads';
import { shardOfKey } from '../../storage/Keyspace';
import type { DeliveryJob, OutboundChannel } from '../../core/OutboundDelivery';
import type { SenderCounters } from '../../core/NodeStats';

/** What a sender needs of a channel implementation (actors/channels). */
export interface ChannelPort {
  send(job: DeliveryJob, signal?: AbortSignal): Promise<void>;
}

/** Removes a dead push token from its user's settings (in the user's mailbox); true if it was there. */
export type PruneDevice = (job: DeliveryJob, reason: string) => Promise<boolean>;

/**
 * The sender workers of a node: separate from the actors that decide, one pool per channel, so a dead or slow
 * provider only fills its own queue (on disk) and never delays the in-app path or the other channels. Retries
 * with exponential backoff and full jitter; after `maxAttempts`, or at once for a non-retryable refusal, the
 * job goes to the dead letters. Delivery to providers is at-least-once (a crash mid-send repeats the send);
 * each payload carries a stable id so providers can drop repeats.
 */
export class Sender {
  private readonly claimed = new Set<string>();
  /** Per channel, the first jobs of each served shard's queue, in memory: a claim compares them, reading little. */
  private readonly heads = new Map<OutboundChannel, QueueHeads>();
  /** Idle workers by channel, waiting to be woken. */
  private readonly wakers = new Map<OutboundChannel, Set<() => void>>();
  private stopped = false;
  readonly counters: Record<string, SenderCounters> = {};

  constructor(
    private readonly queue: DeliveryQueue,
    private readonly channels: ReadonlyMap<OutboundChannel, ChannelPort>,
    private readonly opts: SenderOptions,
    private readonly log: Logger,
    /** The shards this node serves now (owned, not frozen): only their queues are sent from. */
    private readonly shards: () => Iterable<number> = () => [],
    /** Called when the push provider says a token is gone (410), so later pushes stop failing on it. */
    private readonly prune?: PruneDevice,
  ) {}

  start(): void {
    for (const channel of this.channels.keys()) {
      this.counters[channel] = { sent: 0, retried: 0, dead: 0, pruned: 0, inFlight: 0 };
      this.heads.set(channel, new QueueHeads(this.queue, channel, this.opts.concurrency * 2 + 1));
      for (let i = 0; i < this.opts.concurrency; i++) void this.work(channel);
    }
  }

  /**
   * New jobs may be queued in these shards (all, if not said): their cached heads are read again, and one idle
   * worker per channel wakes (not all of them). A worker that finds more than one due job wakes the next, so a
   * burst still fans out.
   */
  kick(shards?: Iterable<number>): void {
    for (const heads of this.heads.values()) heads.changed(shards);
    for (const channel of this.wakers.keys()) this.wakeOne(channel);
  }

  private wakeOne(channel: OutboundChannel): void {
    const idle = this.wakers.get(channel);
    const first = idle?.values().next().value;
    if (first) first();
  }

  stop(): void {
    this.stopped = true;
    for (const idle of this.wakers.values()) for (const wake of [...idle]) wake();
  }

  private async work(channel: OutboundChannel): Promise<void> {
    const port = this.channels.get(channel)!;
    while (!this.stopped) {
      const next = await this.claim(channel).catch(() => undefined);
      if (!next) {
        await this.idle(channel);
        continue;
      }
      const [key, job] = next;
      const c = this.counters[channel];
      c.inFlight++;
      try {
        await port.send(job);
        await this.queue.done(key);
        c.sent++;
      } catch (err) {
        const e = err as Error & { retryable?: boolean; retryAfterMs?: number; status?: number; code?: string };
        const message = String(e?.message ?? err).slice(0, 500);
        if (e?.retryable === false || job.attempts + 1 >= this.opts.maxAttempts) {
          await this.queue.bury(key, job, message, Date.now()).catch(() => undefined);
          c.dead++;
          this.log.warn({ channel, user: job.user, attempts: job.attempts + 1, error: message }, 'send failed for good: dead letter');
          // 410 Gone: the device is unregistered for good; every later push to it would fail the same way.
          if (channel === 'push' && e?.status === 410 && this.prune) {
            const pruned = await this.prune(job, `${e.code ?? 'HERALD_PROVIDER_REJECTED'} 410`).catch((pruneErr) => {
              this.log.warn({ user: job.user, error: String(pruneErr) }, 'could not prune a dead push token');
              return false;
            });
            if (pruned) c.pruned++;
          }
        } else {
          const ceiling = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** job.attempts);
          // A provider that said when to come back (429 Retry-After) is not asked sooner.
          const wait = Math.max(Math.floor(Math.random() * ceiling), e?.retryAfterMs ?? 0);
          await this.queue.retry(key, job, Date.now() + wait, message).catch(() => undefined);
          c.retried++;
        }
      } finally {
        c.inFlight--;
        this.claimed.delete(key);
        // Finished (sent, retried later or buried): the shard's head is read again at the next claim.
        this.heads.get(channel)?.changed([shardOfKey(key)]);
      }
    }
  }

  /**
   * The best due job over the served shards' queues (priority, then due time), from the cached heads: a claim
   * reads only the shards whose queues changed since. A job is claimed by one worker; once it is finished its
   * shard's head is read again.
   */
  private async claim(channel: OutboundChannel): Promise<[string, DeliveryJob] | undefined> {
    const heads = this.heads.get(channel)!;
    await heads.refresh(this.shards());
    // The heads may predate another worker finishing a job (and releasing its claim): check it is still queued.
    const free = heads.due(Date.now(), (key) => !this.claimed.has(key) && this.queue.has(key), 2);
    if (free.length === 0) return undefined;
    this.claimed.add(free[0][0]);
    if (free.length > 1) this.wakeOne(channel);
    return free[0];
  }

  /** Sleeps until kicked, until the next job is due, or at most a second. */
  private async idle(channel: OutboundChannel): Promise<void> {
    const next = this.heads.get(channel)!.nextDue((key) => !this.claimed.has(key));
    const ms = Math.max(10, Math.min(1000, next === undefined ? 1000 : next - Date.now()));
    let idle = this.wakers.get(channel);
    if (!idle) this.wakers.set(channel, (idle = new Set()));
    const waiting = idle;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      waiting.add(wake);
    });
  }
}
