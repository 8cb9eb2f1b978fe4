import { pack } from '../../core/Codec';
import { kindRange, shardOf, userKey, userRange } from '../../storage/Keyspace';
import type { Logger } from '../../core/logger';
import type { NodeStore } from '../../storage/NodeStore';
import type { HeraldEvent, UserId } from '../../core/Event';
import type { FanoutBatch, FanoutTally } from '../../core/Fanout';

/** A tweet's fanout in progress: followers after `cursor` (in key order) are still to be decided. */
export interface FanoutJob {
  event: HeraldEvent;
  cursor: string;
  done: number;
}

export interface FanoutDeps {
  store: NodeStore;
  shardCount: number;
  log: Logger;
  /** Current table: epoch, shard → node, and the shards this node owns (whose authors' jobs it runs). */
  table: () => { epoch: number; owners: readonly string[]; owned: ReadonlySet<number> };
  /** Sends a batch to a node (this one included) and resolves when its chosen notifications are written. */
  send: (node: string, batch: FanoutBatch) => Promise<FanoutTally>;
  /** Followers read per page. */
  pageSize: number;
  /** Pages sent and not yet confirmed by every node, at most (PAGES_IN_FLIGHT on a node). */
  pagesInFlight: number;
}

/** A node's fanout pages out at once: enough that the scan, the transport and every node's decisions overlap. */
export const PAGES_IN_FLIGHT = 3;

/** The start of a follower key's end: the follower's shard, 4 hex digits, and the separator (storage/Keyspace followerKey). */
const SHARD_TAG = /^[0-9a-f]{4}!$/;

/** A page sent: resolves when every node confirmed its batch. */
interface PageInFlight {
  last: UserId;
  followers: number;
  done: Promise<FanoutTally[]>;
}

/**
 * The author's side of personalized fanout, one job at a time (the bulk queue; triggered work never waits
 * for it). Jobs are kept under the author's shard (`<shard>!j!…`), so they move with it. Streams the author's
 * followers from this node's LevelDB in pages, groups each page by owning node, and sends one batch per node.
 * Up to `pagesInFlight` pages are out at once, so the scan, the transport and every node's decisions overlap.
 * Pages are confirmed in order: the cursor advances to the end of a page only once every node confirmed it and
 * every page before it, and is saved fsynced, so a restart resumes after the last such page; followers of the
 * pages sent again dedupe the repeat (each chosen follower is notified exactly once).
 */
export class FanoutRunner {
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  /** Shards whose jobs to look for on the next pass; `all`: every owned shard's (at start, after a gain, after an error). */
  private dirty = new Set<number>();
  private all = false;
  /** `running`: looking for jobs or running one (a job found by a fresh scan is not `active` yet). */
  readonly progress = { jobs: 0, pages: 0, followers: 0, notified: 0, messages: 0, active: '', running: false };

  constructor(private readonly deps: FanoutDeps) {}

  /**
   * Runs the pending jobs of `shards` (a tweet written there), or of every owned shard; again if more arrive
   * meanwhile. Safe to call often: a tweet costs a scan of its author's shard's jobs, not of all of them.
   */
  kick(shards?: Iterable<number>): void {
    if (this.stopped) return;
    if (shards) for (const s of shards) this.dirty.add(s);
    else this.all = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.progress.running = true;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      this.progress.running = false;
    });
  }

  /** Stops after the pages in flight (waiting for them at most `graceMs`); the job resumes on the next start. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, graceMs))]);
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      const owned = this.deps.table().owned;
      const shards = this.all ? [...owned] : [...this.dirty].filter((s) => owned.has(s));
      this.all = false;
      this.dirty.clear();
      const jobs: Array<[string, FanoutJob]> = [];
      for (const shard of shards) jobs.push(...(await this.deps.store.scan<FanoutJob>(kindRange(shard, 'j'))));
      for (const [key, job] of jobs) {
        if (this.stopped) return;
        try {
          await this.run(key, job);
        } catch (err) {
          this.deps.log.warn({ err, job: key }, 'fanout paused by an error; retrying');
          await new Promise((r) => setTimeout(r, 500));
          this.again = true;
          this.all = true;
        }
      }
    } while (this.again && !this.stopped);
  }

  private async run(key: string, job: FanoutJob): Promise<void> {
    const { store, shardCount, pageSize, log } = this.deps;
    const inFlightMax = Math.max(1, this.deps.pagesInFlight);
    const author = job.event.actor;
    const shard = shardOf(author, shardCount);
    const range = userRange(shard, 'F', author);
    const started = Date.now();
    // Stopped, or the author's shard moved away (the job moved with it and resumes on the new owner).
    const halted = () => this.stopped || !this.deps.table().owned.has(shard);
    const inFlight: PageInFlight[] = [];
    let readFrom = job.cursor;
    let exhausted = false;
    this.progress.active = key;
    log.info({ author, event: job.event.id, from: job.done }, 'fanout started');
    try {
      for (;;) {
        while (!exhausted && inFlight.length < inFlightMax && !halted()) {
          const gt = readFrom ? userKey(shard, 'F', author, readFrom) : range.gt;
          const keys = await store.db.keys({ gt, lt: range.lt, limit: pageSize }).all();
          if (keys.length < pageSize) exhausted = true;
          if (!keys.length) break;
          const page = this.send(job.event, keys, range.gt.length);
          inFlight.push(page);
          readFrom = page.last;
        }
        const oldest = inFlight.shift();
        if (!oldest) break;
        const results = await oldest.done;
        this.progress.pages++;
        this.progress.followers += oldest.followers;
        for (const r of results) this.progress.notified += r.notified;
        // A shard that moved took the job key with it: nothing more is written here.
        if (!this.deps.table().owned.has(shard)) return;
        job = { ...job, cursor: oldest.last, done: job.done + oldest.followers };
        await store.durable.write([{ type: 'put', key, value: pack(job) }]);
        if (this.progress.pages % 20 === 0) log.info({ author, event: job.event.id, done: job.done }, 'fanout progress');
      }
    } finally {
      // On an error, the pages still out settle before the job is retried (from the saved cursor).
      if (inFlight.length) await Promise.allSettled(inFlight.map((p) => p.done));
    }
    if (halted()) return;
    await store.durable.write([{ type: 'del', key }]);
    this.progress.jobs++;
    this.progress.active = '';
    log.info({ author, event: job.event.id, followers: job.done, ms: Date.now() - started }, 'fanout done');
  }

  /**
   * Groups one page of follower keys (`<follower's shard>!<follower>` after `prefix`, storage/Keyspace.ts
   * followerKey) by owning node and sends one batch per node. The page comes shard by shard, so each batch is
   * in the key order of the followers' own keys.
   */
  private send(event: HeraldEvent, keys: string[], prefix: number): PageInFlight {
    const { epoch, owners } = this.deps.table();
    const byNode = new Map<string, { followers: UserId[]; shards: number[] }>();
    // Keys come in runs of one shard: its number and batch are looked up once per run.
    let run = '';
    let s = 0;
    let batch: { followers: UserId[]; shards: number[] } | undefined;
    let malformed = 0;
    for (const k of keys) {
      if (!batch || !k.startsWith(run, prefix)) {
        run = k.slice(prefix, prefix + 5);
        s = SHARD_TAG.test(run) ? parseInt(run, 16) : NaN;
        const node = owners[s];
        if (node === undefined) {
          // Not a follower key of this layout (written by a herald before followers were kept by shard).
          batch = undefined;
          malformed++;
          continue;
        }
        batch = byNode.get(node);
        if (!batch) byNode.set(node, (batch = { followers: [], shards: [] }));
      }
      batch!.followers.push(k.slice(prefix + 5));
      batch!.shards.push(s);
    }
    if (malformed)
      this.deps.log.warn(
        { author: event.actor, keys: malformed },
        'follower keys without a shard skipped: data from an older herald, import the follow graph again',
      );
    const last = keys.length ? keys[keys.length - 1].slice(prefix) : '';
    this.progress.messages += byNode.size;
    const done = Promise.all([...byNode].map(([node, b]) => this.deps.send(node, { epoch, event, followers: b.followers, shards: b.shards })));
    // Awaited in page order later; until then a rejection must not count as unhandled.
    done.catch(() => undefined);
    return { last, followers: keys.length, done };
  }
}
