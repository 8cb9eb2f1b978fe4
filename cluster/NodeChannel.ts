import type { IngestItem, PackedDelivery } from '../core/nodeProtocol';
import { pack } from '../core/Codec';
import { HeraldError } from '../core/HeraldError';
import type { NodeRef } from './NodeRef';

export interface ChannelOptions {
  /** Flush a batch once it holds this many events (`batchMax`). */
  maxBatch: number;
  /** ...or once its oldest event has waited this long (`batchDelayMs`). */
  maxDelayMs: number;
  /** Events queued or in flight to one node before publishes are refused with HERALD_OVERLOADED (`maxPendingPerNode`). */
  maxPending: number;
}

/** An event sent to the node, with when the gateway received it (performance.now() ms; for the latency metric). */
export interface SentItem {
  item: IngestItem;
  at: number;
}

interface Pending extends SentItem {
  resolve: (error: string | null) => void;
}

/**
 * The way from the gateway to one node: events bound for the node wait a few ms (or until a batch fills) and go
 * as one message. Each caller learns its own event's outcome; the notifications a batch created go to `deliver`.
 */
export class NodeChannel {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private pending = 0;

  constructor(
    readonly node: NodeRef,
    private readonly opts: ChannelOptions,
    private readonly epoch: () => number,
    /** The notifications a batch created, with the batch's items in order (each delivery names its item). */
    private readonly deliver: (deliveries: PackedDelivery[], sent: readonly SentItem[]) => void,
  ) {}

  /** Events queued or in flight to the node. */
  get depth(): number {
    return this.pending;
  }

  /** The most events ever queued or in flight at once (a scrape between two bursts still sees their peak). */
  maxDepth = 0;

  /**
   * Resolves with null once the node has durably applied the item, or with the error code that refused it.
   * `receivedAt` is when the gateway received the event (performance.now()).
   */
  send(item: IngestItem, receivedAt = performance.now()): Promise<string | null> {
    if (this.pending >= this.opts.maxPending) {
      return Promise.reject(new HeraldError('HERALD_OVERLOADED', `too many events pending for node ${this.node.id}`));
    }
    if (++this.pending > this.maxDepth) this.maxDepth = this.pending;
    const done = new Promise<string | null>((resolve) => this.queue.push({ item, resolve, at: receivedAt }));
    if (this.queue.length >= this.opts.maxBatch) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.opts.maxDelayMs);
    return done;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.node
      // The items packed once, as a bin: the node logs these bytes as they are (NodeHost's ingestBatchOf).
      .call('ingest', { epoch: this.epoch(), items: pack(batch.map((p) => p.item)) })
      .then(
        (res) => {
          batch.forEach((p, i) => p.resolve(res.errors[i]));
          if (res.deliveries.length) this.deliver(res.deliveries, batch);
        },
        (err) => {
          const code = HeraldError.from(err).code;
          for (const p of batch) p.resolve(code);
        },
      )
      .finally(() => {
        this.pending -= batch.length;
      });
  }
}
