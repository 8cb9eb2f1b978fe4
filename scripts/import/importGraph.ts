import { SingleBar } from 'cli-progress';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { UserId } from '../../core/Event';
import type { ProfileOptions } from '../../core/config';
import { ShardTable } from '../../cluster/ShardTable';
import { ringAllocation } from '../../cluster/RingAllocation';
import { mergeExpected, type Expected } from './expected';
import { makePlan, type GenerateOptions, type Plan } from './Generator';
import { splitFile, type FileShare } from './source';
import type { WorkerJob, WorkerMessage } from './worker';
import { lockNodes } from './writer';

/**
 * The importer as a library (`npm run import`'s CLI, the benchmarks, the tests): writes a social graph straight into
 * the node LevelDBs of a STOPPED cluster's data dir, so a cluster started on the dir afterwards sees the graph as if
 * every follow had gone through it (scripts/import/writer.ts has the keys). Not written: dedupe keys and the
 * followee's "F followed you" timeline entries (an import is not a stream of live follows).
 *
 * Speed: one worker thread per node (scripts/import/worker.ts) writes that node's DB, shard after shard and in key
 * order inside a shard, through chained batches of --batch ops; the nodes' DBs are written in parallel. For a
 * generated graph the main thread first plans the order (the users of each shard, the friend edges of each
 * followee's shard), shared with the workers without copying; a file is read (and validated) once by the main
 * thread, which hands each node's worker its share. Measured on 2 cores: see docs/benchmarks.md (fanout).
 */

export type { Expected } from './expected';

/** What to import and how (parseImportArgs makes one from `npm run import`'s command line). */
export interface ImportOptions {
  dataDir: string;
  shards: number;
  nodes: number;
  generate?: GenerateOptions;
  file?: string;
  /** `file` is CSV `follower,followee[,weight]` (--edges) rather than JSON lines (--file). */
  csv?: boolean;
  expectAuthor?: UserId;
  expectEntities: string[];
  sample: number;
  batchOps: number;
  progress: boolean;
  /** Build everything, write nothing (to tune the generator's options). */
  dryRun: boolean;
  profile: ProfileOptions;
  log: (s: string) => void;
}

/** The importer's report: the last stdout line of `npm run import`, what the benchmarks read. */
export interface ImportResult {
  import: 'done';
  data: string;
  mode: 'generate' | 'file';
  nodes: number;
  shards: number;
  /** Users written with their followings (and profile). */
  followers: number;
  edges: number;
  keys: number;
  /** Of `keys`: the fanout candidate index entries (actors/fanout/CandidateIndex.ts) of the profiles written. */
  index_keys: number;
  keys_per_node: Record<string, number>;
  seconds: number;
  edges_per_s: number;
  keys_per_s: number;
  threads: number;
  batch_ops: number;
  dry_run?: boolean;
  expected?: Expected;
  generate?: GenerateOptions;
}

/** The nodes the cluster script creates for `--nodes N`. */
const defaultNodes = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `node-${i + 1}` }));

/** The shard table of the data dir; created (as the cluster script would) when absent. */
function tableOf(dataDir: string, shards: number, nodes: number, log: (s: string) => void): ShardTable {
  const file = join(dataDir, 'cluster.json');
  const stored = ShardTable.load(file);
  if (stored) {
    if (stored.shardCount !== shards) log(`cluster.json has ${stored.shardCount} shards (fixed at creation): using them`);
    return stored;
  }
  mkdirSync(dataDir, { recursive: true });
  const table = ShardTable.create(shards, defaultNodes(nodes), ringAllocation);
  table.save(file);
  log(`created ${file}: ${shards} shards on ${nodes} nodes`);
  return table;
}

/** The worker script, compiled: also when this module was loaded from source (tests), a worker runs JavaScript. */
function workerFile(): string {
  return __filename.endsWith('.ts') ? join(__dirname, '..', '..', 'dist', 'scripts', 'import', 'worker.js') : join(__dirname, 'worker.js');
}

/** Imports the graph `o` describes; resolves with the counts, the rate and (with an author) whom the policy picks. */
export async function importGraph(o: ImportOptions): Promise<ImportResult> {
  const dataDir = resolve(o.dataDir);
  const table = o.dryRun
    ? (ShardTable.load(join(dataDir, 'cluster.json')) ?? ShardTable.create(o.shards, defaultNodes(o.nodes), ringAllocation))
    : tableOf(dataDir, o.shards, o.nodes, o.log);
  const locks = o.dryRun ? [] : await lockNodes(dataDir, table);
  const g = o.generate;
  const expectAuthor = o.expectAuthor ?? g?.celebrity;
  const expectEntities = o.expectEntities.length || !g ? o.expectEntities : ['topic20', 'topic60'];
  const nodes = table.data.nodes.map((n) => n.id);
  const t0 = performance.now();
  const workers: Worker[] = [];
  const progress = new Map(nodes.map((n) => [n, { followers: 0, edges: 0, keys: 0 }]));
  let bar: SingleBar | undefined;
  try {
    let plan: Plan | undefined;
    let shares: Map<string, FileShare> | undefined;
    if (o.file) {
      const split = await splitFile(o.file, !!o.csv, table);
      shares = split.shares;
      o.log(`read ${split.lines} edges in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    }
    if (g) {
      plan = makePlan(g, table.shardCount);
      o.log(`planned in ${((performance.now() - t0) / 1000).toFixed(1)}s: ${g.users} users, ${new Int32Array(plan.pairStart)[table.shardCount]} friend edges`);
    }
    bar = o.progress
      ? new SingleBar({
          format: `import |{bar}| {percentage}% | {value}/{total} ${g ? 'users' : 'followers'} | {edges} edges | {keys} keys | {rate} keys/s | ETA {eta}s`,
          barsize: 30,
          hideCursor: true,
          stream: process.stderr,
          // Not a terminal (a log, a benchmark): a plain line every 2 s instead of redraws.
          noTTYOutput: true,
          notTTYSchedule: 2000,
        })
      : undefined;
    // A file's follower count is known only once the workers have grouped its edges.
    bar?.start(g ? g.users : 0, 0, { edges: 0, keys: 0, rate: 0 });
    const show = () => {
      const sum = (k: 'followers' | 'edges' | 'keys') => [...progress.values()].reduce((a, p) => a + p[k], 0);
      bar?.update(sum('followers'), { edges: sum('edges'), keys: sum('keys'), rate: Math.round(sum('keys') / ((performance.now() - t0) / 1000)) });
    };
    const now = Date.now();
    const results = await Promise.all(
      nodes.map((node) => {
        const job: WorkerJob = {
          heraldImport: true,
          node,
          shards: table.shardsOf(node),
          dataDir,
          shardCount: table.shardCount,
          owners: [...table.owners],
          generate: g,
          plan,
          share: shares?.get(node),
          expectAuthor,
          expectEntities,
          sample: o.sample,
          batchOps: o.batchOps,
          profile: o.profile,
          now,
          dryRun: o.dryRun,
        };
        const worker = new Worker(workerFile(), { workerData: job });
        workers.push(worker);
        return new Promise<Extract<WorkerMessage, { type: 'done' }>>((resolveDone, reject) => {
          let done: Extract<WorkerMessage, { type: 'done' }> | undefined;
          worker.on('message', (m: WorkerMessage) => {
            if (m.type === 'error') return reject(new Error(m.message));
            progress.set(node, m);
            if (m.type === 'done') done = m;
            show();
          });
          worker.once('error', reject);
          worker.once('exit', (code) => (done ? resolveDone(done) : reject(new Error(`import worker of ${node} exited with ${code}`))));
        });
      }),
    );
    if (!g) bar?.setTotal(results.reduce((a, r) => a + r.followers, 0));
    show();
    bar?.stop();
    bar = undefined;
    const seconds = (performance.now() - t0) / 1000;
    const followers = results.reduce((a, r) => a + r.followers, 0);
    const edges = results.reduce((a, r) => a + r.edges, 0);
    const keys = results.reduce((a, r) => a + r.keys, 0);
    const expected = expectAuthor
      ? mergeExpected(
          expectAuthor,
          expectEntities,
          nodes,
          results.map((r) => r.expected),
        )
      : undefined;
    return {
      import: 'done',
      data: dataDir,
      mode: g ? 'generate' : 'file',
      nodes: nodes.length,
      shards: table.shardCount,
      followers,
      edges,
      keys,
      index_keys: results.reduce((n, r) => n + r.indexKeys, 0),
      keys_per_node: Object.fromEntries(nodes.map((n, k) => [n, results[k].keys])),
      seconds: Math.round(seconds * 100) / 100,
      edges_per_s: Math.round(edges / seconds),
      keys_per_s: Math.round(keys / seconds),
      threads: nodes.length,
      batch_ops: o.batchOps,
      ...(o.dryRun ? { dry_run: true } : {}),
      ...(expected ? { expected } : {}),
      ...(g ? { generate: g } : {}),
    };
  } finally {
    bar?.stop();
    // A failed worker stops the others before the DBs are released.
    await Promise.all(workers.map((w) => w.terminate()));
    await Promise.all(locks.map((db) => db.close()));
  }
}
