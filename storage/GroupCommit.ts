import { performance } from 'node:perf_hooks';
import type { ClassicLevel } from 'classic-level';

export type Op =
  | { type: 'put'; key: string; value: Uint8Array }
  | { type: 'del'; key: string };

type Db = ClassicLevel<string, Uint8Array>;

/** Upper bounds (seconds) of the batch write-latency histogram: a LevelDB write takes µs, an fsync 0.1–10 ms. */
export const WRITE_SECONDS_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Upper bounds of the ops-per-batch histogram. */
export const BATCH_OPS_BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/**
 * A fixed-bucket histogram cheap enough for every batch: `counts[i]` holds the observations <= `bounds[i]` and
 * above the bound before (not cumulative); the last count is above every bound. Plain fields, so it crosses
 * process boundaries as it is (the gateway turns it into Prometheus buckets).
 */
export class Buckets {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/**
 * Group commit: writes queued while a batch is on disk go out together in the next one, so many callers share
 * one (optionally fsynced) LevelDB write. Each caller's promise resolves when its ops are written; batches are
 * written in the order they were queued, which keeps LevelDB's WAL prefix property (a later write never survives
 * a crash without the earlier ones).
 */
export class GroupCommit {
  private pending: Op[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private writing = false;
  private scheduled = false;
  /** Figures for metrics and benchmarks: the node's `stats` op reports them, GET /metrics exposes them. */
  readonly stats = { batches: 0, ops: 0, maxBatch: 0, writeSeconds: new Buckets(WRITE_SECONDS_BOUNDS), batchOps: new Buckets(BATCH_OPS_BOUNDS) };
  /** Sees every op as it is queued: a shard handoff journals the keys its copy must re-send (storage/ShardJournal). */
  onWrite?: (ops: readonly Op[]) => void;
  /** The batch on disk now, if any (what `flushed` waits for when nothing is queued). */
  private current?: Promise<void>;

  constructor(
    private readonly db: Db,
    private readonly sync: boolean,
  ) {}

  write(ops: Op[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    this.onWrite?.(ops);
    for (const op of ops) this.pending.push(op);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.schedule();
    return done;
  }

  /** Resolves when everything queued so far is written. */
  async drain(): Promise<void> {
    while (this.writing || this.pending.length || this.scheduled) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Resolves when every op queued before the call is written; unlike `drain`, later writes do not delay it. */
  flushed(): Promise<void> {
    if (this.pending.length) return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    return this.current ?? Promise.resolve();
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every handler that runs in this turn add its ops to the same batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing || this.pending.length === 0) return;
    const ops = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.writing = true;
    try {
      const batch = this.db.batch();
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
      const t0 = performance.now();
      this.current = batch.write({ sync: this.sync });
      await this.current;
      this.stats.writeSeconds.observe((performance.now() - t0) / 1000);
      this.stats.batchOps.observe(ops.length);
      this.stats.batches++;
      this.stats.ops += ops.length;
      if (ops.length > this.stats.maxBatch) this.stats.maxBatch = ops.length;
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    } finally {
      this.current = undefined;
      this.writing = false;
      if (this.pending.length) this.schedule();
    }
  }
}
