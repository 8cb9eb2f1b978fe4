import type { ClassicLevel } from 'classic-level';

export type Op =
  | { type: 'put'; key: string; value: Uint8Array }
  | { type: 'del'; key: string };

type Db = ClassicLevel<string, Uint8Array>;

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
  /** Figures for metrics and benchmarks. */
  readonly stats = { batches: 0, ops: 0, maxBatch: 0 };

  constructor(
    private readonly db: Db,
    private readonly sync: boolean,
  ) {}

  write(ops: Op[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
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
      await batch.write({ sync: this.sync });
      this.stats.batches++;
      this.stats.ops += ops.length;
      if (ops.length > this.stats.maxBatch) this.stats.maxBatch = ops.length;
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    } finally {
      this.writing = false;
      if (this.pending.length) this.schedule();
    }
  }
}
