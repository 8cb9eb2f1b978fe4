import { pack } from '../storage/Codec';
import { kindRange, shardOf, userKey, userRange } from '../storage/Keyspace';
import type { Logger } from '../storage/logger';
import type { NodeStore } from '../storage/NodeStore';
import type { HeraldEvent, UserId } from './Event';

/** A tweet's fanout in progress: followers after `cursor` (in key order) are still to be decided. */
export interface FanoutJob {
  event: HeraldEvent;
  cursor: string;
  done: number;
}

/** One message to one node: a page's followers that live there, and the tweet. */
export interface FanoutBatch {
  epoch: number;
  event: HeraldEvent;
  followers: UserId[];
}

export interface FanoutDeps {
  store: NodeStore;
  shardCount: number;
  log: Logger;
  /** Current table: epoch, shard → node, and the shards this node owns (whose authors' jobs it runs). */
  table: () => { epoch: number; owners: readonly string[]; owned: ReadonlySet<number> };
  /** Sends a batch to a node (this one included) and resolves when its chosen notifications are written. */
  send: (node: string, batch: FanoutBatch) => Promise<{ decided: number; notified: number }>;
  /** Followers read per page. @defaultValue 5000 */
  pageSize: number;
}

/**
 * The author's side of personalized fanout, one job at a time (the bulk queue; triggered work never waits
 * for it). Jobs are kept under the author's shard (`<shard>!j!…`), so they move with it. Streams the author's followers from this node's LevelDB in pages, groups each page by owning node,
 * and sends one batch per node; the cursor is saved (fsynced) after every node confirmed its batch, so a
 * restart resumes at the page it was in, and followers of that page dedupe the repeat (notified once).
 */
export class FanoutRunner {
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  readonly progress = { jobs: 0, pages: 0, followers: 0, notified: 0, messages: 0, active: '' };

  constructor(private readonly deps: FanoutDeps) {}

  /** Runs every pending job (again, if more arrive meanwhile). Safe to call often. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Stops after the page in flight (waiting for it at most `graceMs`); the job resumes on the next start. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, graceMs))]);
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      const jobs: Array<[string, FanoutJob]> = [];
      for (const shard of this.deps.table().owned) jobs.push(...(await this.deps.store.scan<FanoutJob>(kindRange(shard, 'j'))));
      for (const [key, job] of jobs) {
        if (this.stopped) return;
        try {
          await this.run(key, job);
        } catch (err) {
          this.deps.log.warn({ err, job: key }, 'fanout paused by an error; retrying');
          await new Promise((r) => setTimeout(r, 500));
          this.again = true;
        }
      }
    } while (this.again && !this.stopped);
  }

  private async run(key: string, job: FanoutJob): Promise<void> {
    const { store, shardCount, pageSize, log } = this.deps;
    const author = job.event.actor;
    const shard = shardOf(author, shardCount);
    const range = userRange(shard, 'F', author);
    const started = Date.now();
    this.progress.active = key;
    log.info({ author, event: job.event.id, from: job.done }, 'fanout started');
    for (;;) {
      // Stopped, or the author's shard moved away (the job moved with it and resumes on the new owner).
      if (this.stopped || !this.deps.table().owned.has(shard)) return;
      const gt = job.cursor ? userKey(shard, 'F', author, job.cursor) : range.gt;
      const keys = await store.db.keys({ gt, lt: range.lt, limit: pageSize }).all();
      const followers = keys.map((k) => k.slice(range.gt.length));
      if (followers.length) {
        const { epoch, owners } = this.deps.table();
        const byNode = new Map<string, UserId[]>();
        for (const f of followers) {
          const node = owners[shardOf(f, shardCount)];
          const list = byNode.get(node);
          if (list) list.push(f);
          else byNode.set(node, [f]);
        }
        const results = await Promise.all([...byNode].map(([node, fs]) => this.deps.send(node, { epoch, event: job.event, followers: fs })));
        this.progress.messages += byNode.size;
        this.progress.pages++;
        this.progress.followers += followers.length;
        for (const r of results) this.progress.notified += r.notified;
        job = { ...job, cursor: followers[followers.length - 1], done: job.done + followers.length };
        await store.durable.write([{ type: 'put', key, value: pack(job) }]);
        if (this.progress.pages % 20 === 0) log.info({ author, event: job.event.id, done: job.done }, 'fanout progress');
      }
      if (followers.length < pageSize) break;
    }
    await store.durable.write([{ type: 'del', key }]);
    this.progress.jobs++;
    this.progress.active = '';
    log.info({ author, event: job.event.id, followers: job.done, ms: Date.now() - started }, 'fanout done');
  }
}
