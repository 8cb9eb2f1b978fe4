import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { UserId } from '../../core/Event';
import { INDEX_COMPLETE_KEY, PRESENT as INDEX_ENTRY } from '../../actors/fanout/CandidateIndex';
import type { ProfileOptions } from '../../core/config';
import { followerKey } from '../../storage/Keyspace';
import type { Edge } from './Edge';
import { ExpectedTally, type NodeExpected } from './expected';
import { Generator, type GenerateOptions, type Plan } from './Generator';
import type { FileShare } from './source';
import { BatchWriter, GraphWriter, openDb } from './writer';

/**
 * The importer's worker thread, one per node: writes that node's shards one after the other, each in key order
 * (LevelDB then flushes level-0 files that do not overlap, so compaction costs little: random-order writes cost
 * 3.5x the CPU per key here). A generated graph is made here from the main thread's shared plan; a file's share
 * comes from the main thread, which read it once.
 */

/** What the main thread hands each worker: one worker per node, writing that node's shards in key order. */
export interface WorkerJob {
  heraldImport: true;
  node: string;
  /** This node's shards, ascending (= key order: the shard prefix is fixed-width hex). */
  shards: number[];
  dataDir: string;
  shardCount: number;
  owners: readonly string[];
  generate?: GenerateOptions;
  plan?: Plan;
  share?: FileShare;
  expectAuthor?: UserId;
  expectEntities: string[];
  sample: number;
  batchOps: number;
  profile: ProfileOptions;
  now: number;
  dryRun: boolean;
}

export type WorkerMessage =
  | { type: 'progress'; followers: number; edges: number; keys: number }
  | { type: 'done'; followers: number; edges: number; keys: number; indexKeys: number; expected: NodeExpected }
  | { type: 'error'; message: string };

/** Writes one node's share of the graph into its DB (counts only, in a dry run); reports to the main thread. */
export async function runWorker(job: WorkerJob, post: (m: WorkerMessage) => void): Promise<void> {
  const db = job.dryRun ? undefined : openDb(join(job.dataDir, job.node));
  await db?.open({ multithreading: true });
  // A DB this import creates gets the candidate index whole (every profile written here has its entries); one
  // that held profiles from before the index stays unmarked, and its node builds the index at start.
  const indexWhole = db !== undefined && (db.getSync(INDEX_COMPLETE_KEY) !== undefined || (await db.keys({ limit: 1 }).all()).length === 0);
  const out = new BatchWriter(db, job.batchOps);
  const tally = new ExpectedTally(job.expectAuthor, job.expectEntities, job.sample, job.now);
  const w: GraphWriter = new GraphWriter(out, job.now, job.profile, () => post({ type: 'progress', followers: w.followers, edges: w.edges, keys: out.keys }));
  const following = (shard: number, f: UserId, list: Edge[]) => tally.record(f, list, w.following(shard, f, list));
  try {
    if (job.generate && job.plan) await writeGenerated(job, job.generate, job.plan, w, following);
    else if (job.share) await writeShare(job, job.share, w, following);
    await out.finish();
    if (indexWhole) await db.put(INDEX_COMPLETE_KEY, INDEX_ENTRY, { sync: true });
    // One full compaction before the cluster opens the DB: a bulk load leaves a dozen level-0 files, and LevelDB
    // slows every write by 1 ms from 8 of them (stops them at 12) until they are compacted — under live traffic.
    // Measured on a 1 M-follower graph: ~2 s of CPU per node here, against the slowed writes and the seek-triggered
    // compactions of every profile read the nodes would pay instead (docs/benchmarks.md, fanout).
    await db?.compactRange('\u0000', '\uffff');
  } finally {
    await db?.close();
  }
  post({ type: 'done', followers: w.followers, edges: w.edges, keys: out.keys, indexKeys: w.indexKeys, expected: tally.counts });
}

type Following = (shard: number, f: UserId, list: Edge[]) => void;

/** A generated graph: each shard's follower edges (the celebrity's, then the friends'), then its users' own keys. */
async function writeGenerated(job: WorkerJob, g: GenerateOptions, plan: Plan, w: GraphWriter, following: Following): Promise<void> {
  const gen = new Generator(g);
  const lexOrder = new Int32Array(plan.lexOrder);
  const userStart = new Int32Array(plan.userStart);
  const users = new Int32Array(plan.users);
  const pairStart = new Int32Array(plan.pairStart);
  const pairs = new Float64Array(plan.pairs);
  const n = g.users;
  for (const s of job.shards) {
    // Kinds in key order: F (followers: the celebrity's, then the friends') < P < a < f.
    if (s === plan.celebrityShard && g.celebrityFollowers > 0) {
      // Shard by shard, each shard's users in key order: the key order of <shard(F)>!F.
      for (let fs = 0; fs < job.shardCount; fs++) {
        for (let u = userStart[fs]; u < userStart[fs + 1]; u++) {
          const i = users[u];
          if (i >= g.celebrityFollowers) continue;
          w.followedBy(s, g.celebrity, fs, `u${i}`);
          await w.pace();
        }
      }
    }
    for (let p = pairStart[s]; p < pairStart[s + 1]; p++) {
      const high = Math.floor(pairs[p] / n);
      const j = lexOrder[Math.floor(high / job.shardCount)];
      const i = lexOrder[pairs[p] - high * n];
      w.followedBy(s, `u${j}`, high % job.shardCount, `u${i}`);
      await w.pace();
    }
    for (let u = userStart[s]; u < userStart[s + 1]; u++) {
      const i = users[u];
      const list = gen.edgesOf(i);
      if (list.length) following(s, `u${i}`, list);
      await w.pace();
    }
    await w.endShard();
  }
}

/** A file's share: grouped by shard, the edges of one follower merged (a repeated edge: the later line wins). */
async function writeShare(job: WorkerJob, sh: FileShare, w: GraphWriter, following: Following): Promise<void> {
  type Followed = [followee: UserId, followerShard: number, follower: UserId];
  const byShard = new Map<number, { followers: Map<UserId, Edge[]>; followed: Followed[] }>();
  const bucket = (s: number) => {
    let b = byShard.get(s);
    if (!b) byShard.set(s, (b = { followers: new Map(), followed: [] }));
    return b;
  };
  for (let k = 0; k < sh.follower.length; k++) {
    const fs = bucket(sh.followerShard[k]).followers;
    const follower = sh.follower[k];
    const edge: Edge = { followee: sh.followee[k], affinity: sh.affinity[k], entities: sh.entities[k] ?? [] };
    const list = fs.get(follower);
    if (!list) fs.set(follower, [edge]);
    else {
      const at = list.findIndex((e) => e.followee === edge.followee);
      if (at >= 0) list[at] = edge;
      else list.push(edge);
    }
  }
  for (let k = 0; k < sh.followedBy.length; k++) bucket(sh.followedShard[k]).followed.push([sh.followed[k], sh.followedByShard[k], sh.followedBy[k]]);
  // Key order of <followee>!<follower's shard>!<follower>: the shard prefix is fixed-width hex, so numeric order.
  const byKey = (a: Followed, b: Followed) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
  for (const s of job.shards) {
    const b = byShard.get(s);
    if (!b) continue;
    let previous = '';
    for (const [c, fs, f] of b.followed.sort(byKey)) {
      // A repeated edge is one key.
      const key = followerKey(s, c, fs, f);
      if (key === previous) continue;
      previous = key;
      w.followedBy(s, c, fs, f);
      await w.pace();
    }
    for (const f of [...b.followers.keys()].sort()) {
      following(s, f, b.followers.get(f)!);
      await w.pace();
    }
    await w.endShard();
  }
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.heraldImport) {
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  runWorker(workerData as WorkerJob, post).catch((err) => {
    post({ type: 'error', message: String(err?.stack ?? err) });
    process.exit(1);
  });
}
