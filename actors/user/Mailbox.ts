/**
 * A FIFO mailbox: tasks run strictly one at a time, in the order they were posted. comedy lets async handlers of
 * one actor interleave, so per-user ordering is built here. A task that fails rejects its own promise only.
 */
export class Mailbox {
  private tail: Promise<unknown> = Promise.resolve();
  private depth = 0;

  post<T>(task: () => Promise<T> | T): Promise<T> {
    this.depth++;
    const run = this.tail.then(task);
    const settle = () => {
      this.depth--;
    };
    this.tail = run.then(settle, settle);
    return run;
  }

  /** Tasks posted and not yet finished. */
  get size(): number {
    return this.depth;
  }
}
