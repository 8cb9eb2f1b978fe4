import { performance } from 'node:perf_hooks';
import type { ClassicLevel } from 'classic-level';
import { HeraldError } from '../core/HeraldError';

export type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

type Db = ClassicLevel<string, Uint8Array>;

/** Upper bounds (seconds) of the batch write-latency histogram: a LevelDB write takes µs, an fsync 0.1–10 ms. */
export const WRITE_SECONDS_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** A `later` op waits at most this long for a batch to ride on. */
export const LATER_MS = 1000;
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

/** What flush needs of a chained batch: classic-level's own put/del/write, without abstract-level's per-op work. */
interface RawBatch {
  _put(key: string, value: Uint8Array): void;
  _del(key: string): void;
  _write(options: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

/**
 * Group commit: writes queued while a batch is on disk go out together in the next one, so many callers share
 * one (optionally fsynced) LevelDB write. Every write queued for one batch gets that batch's promise, which
 * resolves when its ops are written; batches are written in the order they were queued, which keeps LevelDB's
 * WAL prefix property (a later write never survives a crash without the earlier ones).
 *
 * Fail-stop: once a batch fails, it and every later write reject (HERALD_UNAVAILABLE). Callers pipeline writes
 * (an actor applies its next event before the previous write landed), so a later write must never land on top
 * of a lost one; the node's state is then only what LevelDB holds, and it must be restarted to reload it.
 */
export class GroupCommit {
  /**
   * The next batch, filled as writes come: LevelDB's batch copies each key and value when it is put, so the
   * callers' keys, values and op arrays die young instead of living until the batch's fsync (GC copied them).
   */
  private raw?: RawBatch;
  private pending = 0;
  private batch?: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void };
  private writing = false;
  private scheduled = false;
  /** The error that failed a batch: every write since is refused with it. */
  failure?: HeraldError;
  /** Figures for metrics and benchmarks: the node's `stats` op reports them, GET /metrics exposes them. */
  readonly stats = { batches: 0, ops: 0, maxBatch: 0, writeSeconds: new Buckets(WRITE_SECONDS_BOUNDS), batchOps: new Buckets(BATCH_OPS_BOUNDS) };
  /** Told once, when a batch fails: the process holding this writer must restart to reload from LevelDB. */
  onFailure?: (err: HeraldError) => void;
  /** Sees every op as it is queued: a shard handoff journals the keys its copy must re-send (storage/ShardJournal). */
  onWrite?: (ops: readonly Op[]) => void;
  /** The batch on disk now, if any (what `flushed` waits for when nothing is queued). */
  private current?: Promise<void>;
  /** Ops queued by `later`: they ride on the next batch and never make one of their own before `LATER_MS`. */
  private deferred: Op[] = [];
  private laterTimer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly sync: boolean,
  ) {}

  /** Queues `ops` for the next batch; resolves when that batch is written. */
  write(ops: Op[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (ops.length === 0 && this.deferred.length === 0) return Promise.resolve();
    if (ops.length) {
      this.onWrite?.(ops);
      try {
        this.put(ops);
      } catch (err) {
        // A store that cannot take a batch (closed under us) takes no write after it either.
        return Promise.reject(this.fail(err));
      }
    }
    if (!this.batch) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A caller that only cares about a later write of the same batch need not handle this one.
      promise.catch(() => undefined);
      this.batch = { promise, resolve, reject };
    }
    this.schedule();
    return this.batch.promise;
  }

  /**
   * Queues `ops` that no caller waits for and that may be lost in a crash (the ingest log's deletes: a crash
   * before they land only replays entries that dedupe). They go out with the next batch someone else makes, so
   * they cost no write and no fsync of their own; a quiet writer writes them after `LATER_MS`.
   */
  later(ops: Op[]): void {
    if (this.failure || ops.length === 0) return;
    this.onWrite?.(ops);
    for (const op of ops) this.deferred.push(op);
    this.laterTimer ??= setTimeout(() => {
      this.laterTimer = undefined;
      if (this.deferred.length) void this.write([]).catch(() => undefined);
    }, LATER_MS);
    this.laterTimer.unref?.();
  }

  /** Resolves when everything queued so far is written (or refused). */
  async drain(): Promise<void> {
    if (this.deferred.length) await this.write([]).catch(() => undefined);
    while (this.writing || this.pending || this.scheduled) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Resolves when every op queued before the call is written; unlike `drain`, later writes do not delay it. */
  flushed(): Promise<void> {
    if (this.batch) return this.batch.promise;
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

  /** Fails this writer for good (fail-stop): every later write is refused with the answer, HERALD_UNAVAILABLE. */
  private fail(err: unknown): HeraldError {
    this.failure = new HeraldError('HERALD_UNAVAILABLE', `storage write failed: ${(err as Error)?.message ?? err}`);
    this.onFailure?.(this.failure);
    return this.failure;
  }

  /** Puts `ops` in the batch being filled. */
  private put(ops: readonly Op[]): void {
    // Keys are utf8 strings and values bytes already: abstract-level's per-op checks and copies add nothing.
    const raw = (this.raw ??= this.db.batch() as unknown as RawBatch);
    for (const op of ops) {
      if (op.type === 'put') raw._put(op.key, op.value);
      else raw._del(op.key);
    }
    this.pending += ops.length;
  }

  private async flush(): Promise<void> {
    if (this.writing || (this.pending === 0 && this.deferred.length === 0) || !this.batch) return;
    if (this.deferred.length) {
      this.put(this.deferred);
      this.deferred = [];
    }
    const raw = this.raw!;
    const count = this.pending;
    const batch = this.batch;
    this.raw = undefined;
    this.pending = 0;
    this.batch = undefined;
    if (this.failure) {
      void raw.close().catch(() => undefined);
      return batch.reject(this.failure);
    }
    this.writing = true;
    try {
      try {
        const t0 = performance.now();
        this.current = raw._write({ sync: this.sync });
        await this.current;
        this.stats.writeSeconds.observe((performance.now() - t0) / 1000);
      } finally {
        void raw.close().catch(() => undefined);
      }
      this.stats.batchOps.observe(count);
      this.stats.batches++;
      this.stats.ops += count;
      if (count > this.stats.maxBatch) this.stats.maxBatch = count;
      batch.resolve();
    } catch (err) {
      batch.reject(this.fail(err));
    } finally {
      this.current = undefined;
      this.writing = false;
      // Anything queued while this batch was on disk (deferred ops included) has a batch waiting.
      if (this.batch) this.schedule();
    }
  }
}
