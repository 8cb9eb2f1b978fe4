import { Encoder } from '@msgpack/msgpack';
import { ClassicLevel } from 'classic-level';
import { SingleBar } from 'cli-progress';
import { hash } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { UserId } from '../core/Event';
import { INDEX_COMPLETE_KEY, PRESENT as INDEX_ENTRY, indexKeys, termsOf } from '../actors/fanout/CandidateIndex';
import { DEFAULT_POLICY, decide } from '../actors/fanout/FanoutPolicy';
import { DEFAULT_PROFILE, InterestProfile, WEIGHTS, type ProfileOptions } from '../actors/user/InterestProfile';
import { ShardTable } from '../cluster/ShardTable';
import { shardPrefix } from '../storage/Keyspace';

/**
 * `npm run import -- --data DIR (--generate [options] | --file graph.jsonl | --edges graph.csv)`: writes a social graph straight into
 * the node LevelDBs of a STOPPED cluster's data dir, in exactly the formats UserActor writes for a `follow` (and
 * for the engagements that built the follower's affinity), so a cluster started on the dir afterwards sees the
 * graph as if every follow had gone through it (storage/Keyspace.ts):
 *
 *   on the followee C's owner   <shard(C)>!F!C!<shard(F)>!F   pack(ts)           (C's followers, by shard)
 *   on the follower F's owner   <shard(F)>!f!F!C   pack(ts)                      (F's followings)
 *                               <shard(F)>!a!F!C   pack([affinity, ts])          (F's affinity to C)
 *                               <shard(F)>!P!F     pack(InterestProfile data)    (F's Top-N and recent entities)
 *
 * The profile is built with InterestProfile itself (follow() with the affinity earned, then engage() with the
 * entities of the engagements), so its format is the one the nodes read. Not written: dedupe keys and the
 * followee's "F followed you" timeline entries (an import is not a stream of live follows).
 *
 * Speed: one worker thread per node writes that node's DB, shard after shard and in key order inside a shard
 * (LevelDB then flushes level-0 files that do not overlap, so compaction costs little: random-order writes cost
 * 3.5x the CPU per key here), through chained batches of --batch ops, one in flight while the next one is filled;
 * the nodes' DBs are written in parallel. For a generated graph the main thread first plans the order (the
 * users of each shard, the friend edges of each followee's shard), shared with the workers without copying; a
 * file is read (and validated) once by the main thread, which hands each node's worker its share.
 * Measured on 2 cores: see docs/benchmarks.md (fanout).
 */

const HELP = `herald import: write a social graph into the node LevelDBs of a STOPPED cluster.

Usage: npm run import -- --data DIR (--generate [generator options] | --file graph.jsonl | --edges graph.csv) [options]

  --data DIR                 the cluster's data dir (default ./data); <DIR>/cluster.json is created if absent
  --shards S, --nodes N      shard count and local node count when cluster.json is created (default 256, 3)
  --file FILE                JSON lines: {"follower","followee","affinity"?,"entities"?} ("affinity": the
                             follower's total affinity to the followee, >= 1 as the follow counts 1; "entities":
                             entities of the followee's tweets the follower engaged with)
  --edges FILE               CSV: follower,followee[,weight] per line (weight as "affinity" above; an optional
                             header line follower,followee,...), e.g. from npm run gen-graph
  --generate                 a synthetic bimodal graph instead (seeded: the same options give the same graph):
    --celebrity ID             the celebrity (default celeb)
    --celebrity-followers N    users u0..u<N-1> follow the celebrity (default 1000000)
    --users N                  users u0..u<N-1> in all (default: --celebrity-followers)
    --min-followings M         other users each user follows: M + Poisson(K - M) ... (default 5)
    --avg-followings K         ... so K on average (default 6); friends are drawn uniformly among the users
    --entities-per-user E      entities each user engaged with, Zipf(1) over the vocabulary (default 5)
    --vocabulary V             entities topic0..topic<V-1> (default 1000)
    --friend-engagement X      mean extra affinity to a followed user (exponential; default 4)
    --fan-fraction P           share of the celebrity's followers who are fans (default 0.1) ...
    --fan-engagement X         ... with this mean extra affinity to it (exponential; default 20)
    --celebrity-engagement X   mean extra affinity of the other followers to it (exponential; default 0.05)
    --seed S                   (default 42)
  --expect-author ID         also report whom the default policy picks for a tweet by ID ...
  --expect-entities a,b      ... with these entities (with --generate: the celebrity, topic20,topic60)
  --sample N                 chosen (and not chosen) followers listed per node in the report (default 3)
  --batch OPS                ops per chained batch (default 5000)
  --no-progress              no progress bar
  --dry-run                  build the graph and the report, write nothing
  -h, --help                 this text

The cluster must be stopped: its nodes hold their LevelDB's LOCK, and the import refuses to run then.
Progress goes to stderr; the last stdout line is one JSON object with the counts and the rate.`;

export interface GenerateOptions {
  celebrity: UserId;
  celebrityFollowers: number;
  users: number;
  minFollowings: number;
  avgFollowings: number;
  entitiesPerUser: number;
  vocabulary: number;
  friendEngagement: number;
  fanFraction: number;
  fanEngagement: number;
  celebrityEngagement: number;
  seed: number;
}

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

export interface Expected {
  author: UserId;
  entities: string[];
  /** Followers of the author. */
  followers: number;
  /** Of them, notified by the default policy for a tweet with `entities`. */
  chosen: number;
  fraction: number;
  reasons: Record<string, number>;
  /** Up to --sample chosen (and not chosen) followers per node. */
  chosen_sample: Record<string, UserId[]>;
  not_chosen_sample: Record<string, UserId[]>;
}

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

/** One following of a follower, as read from a line or generated. */
interface Edge {
  followee: UserId;
  /** Total affinity of the follower to the followee (the follow's own weight included). */
  affinity: number;
  entities: string[];
}

/**
 * The shared plan of a generated import, made once by the main thread (SharedArrayBuffers, not copied):
 *   - `shard[i]`: shard of u<i> (md5 once per user);
 *   - `lexOrder`: the user indexes in key order of their ids (u0, u1, u10, u100, ..., u2, ...);
 *   - `userStart`/`users`: the users of each shard, in key order (CSR);
 *   - `pairStart`/`pairs`: the friend edges (follower i -> followee j) of each FOLLOWEE's shard, in key order of
 *     `<j>!<shard(i)>!<i>`, each as (lexRank(j) * shards + shard(i)) * users + lexRank(i) (the celebrity's
 *     followers are u0..u<N-1>: implicit).
 */
interface Plan {
  shard: SharedArrayBuffer;
  lexOrder: SharedArrayBuffer;
  userStart: SharedArrayBuffer;
  users: SharedArrayBuffer;
  pairStart: SharedArrayBuffer;
  pairs: SharedArrayBuffer;
  celebrityShard: number;
}

/** One node's part of a JSON-lines graph: the edges of the followers it owns, and those of the followees it owns. */
interface FileShare {
  follower: UserId[];
  followerShard: Int32Array;
  followee: UserId[];
  affinity: Float64Array;
  entities: Array<string[] | undefined>;
  followed: UserId[];
  /** The follower of `followed[k]`, as the end of its follower key: `<shard(F)>!F` (storage/Keyspace followerKey). */
  followedBy: string[];
  followedShard: Int32Array;
}

/** Reads a JSON-lines graph once, validated, and splits it by node (md5 once per user). */
async function splitFile(file: string, csv: boolean, table: ShardTable): Promise<{ shares: Map<string, FileShare>; lines: number }> {
  const parts = new Map(
    table.data.nodes.map((n) => [
      n.id,
      { follower: [] as UserId[], followerShard: [] as number[], followee: [] as UserId[], affinity: [] as number[], entities: [] as Array<string[] | undefined>, followed: [] as UserId[], followedBy: [] as UserId[], followedShard: [] as number[] },
    ]),
  );
  const shards = new Map<UserId, number>();
  const shard = (u: UserId) => {
    let s = shards.get(u);
    if (s === undefined) shards.set(u, (s = shardOfUser(u, table.shardCount)));
    return s;
  };
  let lines = 0;
  for await (const { follower, edge } of (csv ? readCsv(file) : readLines(file))) {
    lines++;
    const sF = shard(follower);
    const mine = parts.get(table.ownerOf(sF))!;
    mine.follower.push(follower);
    mine.followerShard.push(sF);
    mine.followee.push(edge.followee);
    mine.affinity.push(edge.affinity);
    mine.entities.push(edge.entities.length ? edge.entities : undefined);
    const sC = shard(edge.followee);
    const theirs = parts.get(table.ownerOf(sC))!;
    theirs.followed.push(edge.followee);
    theirs.followedBy.push(shardPrefix(sF) + follower);
    theirs.followedShard.push(sC);
  }
  const shares = new Map<string, FileShare>();
  for (const [node, p] of parts) {
    shares.set(node, { ...p, followerShard: Int32Array.from(p.followerShard), affinity: Float64Array.from(p.affinity), followedShard: Int32Array.from(p.followedShard) });
  }
  return { shares, lines };
}

/** What the main thread hands each worker: one worker per node, writing that node's shards in key order. */
interface WorkerJob {
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

type WorkerMessage =
  | { type: 'progress'; followers: number; edges: number; keys: number }
  | { type: 'done'; followers: number; edges: number; keys: number; indexKeys: number; expected: Omit<Expected, 'author' | 'entities' | 'fraction' | 'chosen_sample' | 'not_chosen_sample'> & { chosen_sample: UserId[]; not_chosen_sample: UserId[] } }
  | { type: 'error'; message: string };

/**
 * core/Codec's `pack`, byte for byte (same library, same options), with one reused encoder: `pack` builds a
 * new Encoder (and its 2 KB buffer) per value, which at millions of values was a fifth of the import's CPU.
 */
const encoder = new Encoder({ ignoreUndefined: true });
export const packValue = (value: unknown): Uint8Array => encoder.encode(value);

/**
 * `pack([affinity, now])` for a fixed `now`: a fractional affinity is msgpack float64 (0xcb), so the bytes are
 * [0x92, 0xcb, 8 bytes big-endian, pack(now)]; an integer one (encoded smaller) goes through the encoder. The
 * bytes are written into one scratch buffer, valid until the next call: a batch copies a value when it is put.
 */
export function affinityPacker(now: number): (affinity: number) => Uint8Array {
  const tail = packValue(now);
  const scratch = new Uint8Array(10 + tail.length);
  const view = new DataView(scratch.buffer);
  scratch[0] = 0x92;
  scratch[1] = 0xcb;
  scratch.set(tail, 10);
  return (affinity) => {
    if (Number.isInteger(affinity) || !Number.isFinite(affinity)) return packValue([affinity, now]);
    view.setFloat64(2, affinity);
    return scratch;
  };
}

/**
 * storage/Keyspace's `shardOf` (md5, first 4 bytes big-endian, modulo the shard count), with the one-shot
 * `crypto.hash`: 2.5x faster than createHash/update/digest, which matters at a million users.
 */
export function shardOfUser(user: string, shardCount: number): number {
  return hash('md5', user, 'buffer').readUInt32BE(0) % shardCount;
}

/** A small, fast, seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of user `i`'s draws: every user's followings are the same whatever the thread that makes them. */
function userSeed(seed: number, i: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The synthetic graph, bimodal: one celebrity followed by --celebrity-followers users, and a long tail where every
 * user follows a few others. A user's affinity to its friends is well above its affinity to the celebrity, which
 * most followers follow without engaging with (a fan-fraction engages a lot): so the celebrity ranks in the top 5
 * of its fans and of users with few friends, and below for the rest, as on a real network. Every user's draws are
 * seeded from (seed, user): its followings are the same whichever thread, and in whichever order, makes them.
 */
export class Generator {
  private readonly cdf: Float64Array;
  private readonly poissonL: number;

  constructor(readonly g: GenerateOptions) {
    // Zipf(1) over the vocabulary: topic0 is the most engaged-with entity.
    this.cdf = new Float64Array(g.vocabulary);
    let sum = 0;
    for (let r = 0; r < g.vocabulary; r++) this.cdf[r] = sum += 1 / (r + 1);
    this.poissonL = Math.exp(-Math.max(0, g.avgFollowings - g.minFollowings));
  }

  /** The friends u<i> follows (the first draws of its stream). */
  private friends(i: number, rand: () => number): number[] {
    // M + Poisson(K - M) (Knuth: fine for a small mean).
    let extra = 0;
    for (let p = rand(); p > this.poissonL; p *= rand()) extra++;
    const k = Math.min(this.g.users - 1, this.g.minFollowings + extra);
    const followees: number[] = [];
    while (followees.length < k) {
      const j = Math.floor(rand() * this.g.users);
      if (j !== i && !followees.includes(j)) followees.push(j);
    }
    return followees;
  }

  /** Only the friends of u<i>: what the plan needs, without the rest of the draws. */
  friendsOf(i: number): number[] {
    return this.friends(i, rng(userSeed(this.g.seed, i)));
  }

  /** User `u<i>`'s followings, with affinities and the entities of its engagements. */
  edgesOf(i: number): Edge[] {
    const { g, cdf } = this;
    const rand = rng(userSeed(g.seed, i));
    const exp = (mean: number) => -mean * Math.log(1 - rand());
    const edges: Edge[] = this.friends(i, rand).map((j) => ({ followee: `u${j}`, affinity: WEIGHTS.follow + exp(g.friendEngagement), entities: [] }));
    if (i < g.celebrityFollowers) {
      const fan = rand() < g.fanFraction;
      edges.push({ followee: g.celebrity, affinity: WEIGHTS.follow + exp(fan ? g.fanEngagement : g.celebrityEngagement), entities: [] });
    }
    if (!edges.length) return edges;
    // The user's entities came with its engagements: spread them over its followings.
    const total = cdf[cdf.length - 1];
    const seen: number[] = [];
    for (let tries = 0; seen.length < g.entitiesPerUser && tries < g.entitiesPerUser * 20; tries++) {
      const x = rand() * total;
      let lo = 0;
      let hi = cdf.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      if (!seen.includes(lo)) seen.push(lo);
    }
    seen.forEach((t, n) => edges[n % edges.length].entities.push(`topic${t}`));
    return edges;
  }
}

/** 0..n-1 in the order of their decimal strings (0, 1, 10, 100, ..., 11, ..., 2, ...), in O(n), no sort. */
export function lexicographicOrder(n: number): Int32Array {
  const out = new Int32Array(n);
  if (n === 0) return out;
  out[0] = 0;
  let cur = 1;
  for (let k = 1; k < n; k++) {
    out[k] = cur;
    if (cur * 10 < n) cur *= 10;
    else {
      while (cur + 1 >= n || cur % 10 === 9) cur = Math.floor(cur / 10);
      cur++;
    }
  }
  return out;
}

/** The plan of a generated graph (see Plan), made in the main thread. */
function makePlan(g: GenerateOptions, shardCount: number): Plan {
  const gen = new Generator(g);
  const n = g.users;
  if (n * n * shardCount > Number.MAX_SAFE_INTEGER) throw new Error(`--users ${n} is too many for the generator's plan with ${shardCount} shards`);
  const shard = new Int32Array(new SharedArrayBuffer(4 * n));
  for (let i = 0; i < n; i++) shard[i] = shardOfUser(`u${i}`, shardCount);
  const lexOrder = new Int32Array(new SharedArrayBuffer(4 * n));
  lexOrder.set(lexicographicOrder(n));
  const lexRank = new Int32Array(n);
  for (let r = 0; r < n; r++) lexRank[lexOrder[r]] = r;
  // Users of each shard, in key order: walk the ids in key order and deal them out.
  const userStart = new Int32Array(new SharedArrayBuffer(4 * (shardCount + 1)));
  for (let i = 0; i < n; i++) userStart[shard[i] + 1]++;
  for (let s = 0; s < shardCount; s++) userStart[s + 1] += userStart[s];
  const users = new Int32Array(new SharedArrayBuffer(4 * n));
  const fill = userStart.slice(0, shardCount);
  for (let r = 0; r < n; r++) {
    const i = lexOrder[r];
    users[fill[shard[i]]++] = i;
  }
  // Friend edges by followee shard, each sorted in key order of <followee>!<follower>.
  const friendStart = new Int32Array(n + 1);
  let friends = new Int32Array(Math.ceil(n * Math.max(1, g.avgFollowings) * 1.1));
  const pairStart = new Int32Array(new SharedArrayBuffer(4 * (shardCount + 1)));
  for (let i = 0; i < n; i++) {
    const fs = gen.friendsOf(i);
    if (friendStart[i] + fs.length > friends.length) {
      const bigger = new Int32Array(Math.ceil(friends.length * 1.5) + fs.length);
      bigger.set(friends);
      friends = bigger;
    }
    for (let k = 0; k < fs.length; k++) {
      friends[friendStart[i] + k] = fs[k];
      pairStart[shard[fs[k]] + 1]++;
    }
    friendStart[i + 1] = friendStart[i] + fs.length;
  }
  for (let s = 0; s < shardCount; s++) pairStart[s + 1] += pairStart[s];
  const pairs = new Float64Array(new SharedArrayBuffer(8 * pairStart[shardCount]));
  const at = pairStart.slice(0, shardCount);
  for (let i = 0; i < n; i++) {
    for (let k = friendStart[i]; k < friendStart[i + 1]; k++) {
      const j = friends[k];
      pairs[at[shard[j]]++] = (lexRank[j] * shardCount + shard[i]) * n + lexRank[i];
    }
  }
  for (let s = 0; s < shardCount; s++) pairs.subarray(pairStart[s], pairStart[s + 1]).sort();
  return {
    shard: shard.buffer as SharedArrayBuffer,
    lexOrder: lexOrder.buffer as SharedArrayBuffer,
    userStart: userStart.buffer as SharedArrayBuffer,
    users: users.buffer as SharedArrayBuffer,
    pairStart: pairStart.buffer as SharedArrayBuffer,
    pairs: pairs.buffer as SharedArrayBuffer,
    celebrityShard: shardOfUser(g.celebrity, shardCount),
  };
}

/** Every line of a JSON-lines graph, validated. */
async function* readLines(file: string): AsyncGenerator<{ follower: UserId; edge: Edge }> {
  const input = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of input) {
    n++;
    if (!line.trim()) continue;
    let row: { follower?: unknown; followee?: unknown; affinity?: unknown; entities?: unknown };
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${n}: not JSON`);
    }
    yield edgeRow(file, n, row);
  }
}

/** Every line of a CSV edge list `follower,followee[,weight]` (a first line `follower,followee...` is a header). */
async function* readCsv(file: string): AsyncGenerator<{ follower: UserId; edge: Edge }> {
  const input = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of input) {
    n++;
    if (!line.trim() || (n === 1 && line.startsWith('follower,'))) continue;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 2 || cells.length > 3) throw new Error(`${file}:${n}: expected follower,followee[,weight]`);
    const weight = cells[2] === undefined || cells[2] === '' ? undefined : Number(cells[2]);
    yield edgeRow(file, n, { follower: cells[0], followee: cells[1], affinity: weight });
  }
}

/** One edge of either format, validated. */
function edgeRow(file: string, n: number, row: { follower?: unknown; followee?: unknown; affinity?: unknown; entities?: unknown }): { follower: UserId; edge: Edge } {
  const { follower, followee, affinity, entities } = row;
  if (typeof follower !== 'string' || !follower || typeof followee !== 'string' || !followee) throw new Error(`${file}:${n}: "follower" and "followee" must be non-empty strings`);
  if (follower === followee) throw new Error(`${file}:${n}: ${follower} follows itself`);
  if (/[!\uffff]/.test(follower + followee)) throw new Error(`${file}:${n}: user ids may not contain "!"`);
  if (affinity !== undefined && (typeof affinity !== 'number' || !Number.isFinite(affinity) || affinity < 0)) throw new Error(`${file}:${n}: "affinity" must be a number >= 0`);
  if (entities !== undefined && (!Array.isArray(entities) || entities.some((e) => typeof e !== 'string'))) throw new Error(`${file}:${n}: "entities" must be an array of strings`);
  return {
    follower,
    edge: { followee, affinity: Math.max(WEIGHTS.follow, (affinity as number | undefined) ?? WEIGHTS.follow), entities: (entities as string[] | undefined) ?? [] },
  };
}

/** One node's LevelDB: a chained batch being filled while the previous one is written. */
class NodeWriter {
  private batch;
  private ops = 0;
  private inflight?: Promise<void>;
  keys = 0;

  constructor(
    /** None in a dry run: keys are counted, not written. */
    readonly db: ClassicLevel<string, Uint8Array> | undefined,
    private readonly batchOps: number,
  ) {
    this.batch = db?.batch();
  }

  put(key: string, value: Uint8Array): void {
    this.batch?.put(key, value);
    this.ops++;
    this.keys++;
  }

  get full(): boolean {
    return this.ops >= this.batchOps;
  }

  /** Sends the batch being filled; waits first for the one in flight. */
  async flush(sync = false): Promise<void> {
    if (this.inflight) await this.inflight;
    this.inflight = undefined;
    if (this.ops === 0 || !this.db || !this.batch) return;
    const batch = this.batch;
    this.batch = this.db.batch();
    this.ops = 0;
    this.inflight = batch.write({ sync });
  }

  /** Everything written, the last batch fsynced (LevelDB's log is sequential: so is everything before it). */
  async finish(): Promise<void> {
    await this.flush(true);
    if (this.inflight) await this.inflight;
    this.inflight = undefined;
  }
}

/** Same encodings as NodeStore; `multithreading` because the main thread holds it open (the LOCK) meanwhile. */
function openDb(path: string): ClassicLevel<string, Uint8Array> {
  return new ClassicLevel<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
}

/** A worker thread: writes one node's shards, one after the other in key order. */
async function runWorker(job: WorkerJob): Promise<void> {
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const db = job.dryRun ? undefined : openDb(join(job.dataDir, job.node));
  await db?.open({ multithreading: true });
  // A DB this import creates gets the candidate index whole (every profile written here has its entries); one
  // that held profiles from before the index stays unmarked, and its node builds the index at start.
  const indexWhole = db !== undefined && (db.getSync(INDEX_COMPLETE_KEY) !== undefined || (await db.keys({ limit: 1 }).all()).length === 0);
  const out = new NodeWriter(db, job.batchOps);
  const now = job.now;
  const ts = packValue(now);
  const affinityValue = affinityPacker(now);
  const expected = { followers: 0, chosen: 0, reasons: {} as Record<string, number>, chosen_sample: [] as UserId[], not_chosen_sample: [] as UserId[] };
  let followers = 0;
  let edges = 0;
  let reported = 0;

  /** A follower's own keys (followings, affinities, profile), its followings in key order. */
  /** The current shard's candidate index keys, written after its users in key order. */
  let indexed: string[] = [];
  let indexWritten = 0;
  const writeFollower = (shard: number, prefix: string, f: UserId, list: Edge[]) => {
    list.sort((a, b) => (a.followee < b.followee ? -1 : a.followee > b.followee ? 1 : 0));
    const profile = new InterestProfile({ top: [], ent: [] }, job.profile);
    // As UserActor does it: a follow ranks the followee with the affinity earned so far, the follow included...
    for (const e of list) profile.follow(e.followee, e.affinity, now);
    // ...and the engagements count their tweets' entities (one call: re-ranking a followee with the affinity it
    // already has would change nothing, so the followee is left out).
    const entities = list.flatMap((e) => e.entities);
    if (entities.length) profile.engage(undefined, false, 0, entities, WEIGHTS.like, now);
    // Kinds in key order: P < a < f. Values in shared buffers: a batch copies a value when it is put.
    out.put(`${prefix}P!${f}`, encoder.encodeSharedRef(profile.toData()));
    for (const k of indexKeys(shard, f, termsOf(profile.toData()))) indexed.push(k);
    for (const e of list) out.put(`${prefix}a!${f}!${e.followee}`, affinityValue(e.affinity));
    for (const e of list) out.put(`${prefix}f!${f}!${e.followee}`, ts);
    followers++;
    edges += list.length;
    if (job.expectAuthor && list.some((e) => e.followee === job.expectAuthor)) {
      expected.followers++;
      const d = decide(profile, job.expectAuthor, job.expectEntities, now, DEFAULT_POLICY);
      const samples = d.notify ? expected.chosen_sample : expected.not_chosen_sample;
      if (samples.length < job.sample) samples.push(f);
      if (d.notify) {
        expected.chosen++;
        const reason = d.reason!.startsWith('top-following+entity') ? 'top-following+entity' : d.reason!;
        expected.reasons[reason] = (expected.reasons[reason] ?? 0) + 1;
      }
    }
  };
  const writeIndex = async () => {
    for (const k of indexed.sort()) {
      out.put(k, INDEX_ENTRY);
      await pace();
    }
    indexWritten += indexed.length;
    indexed = [];
  };
  const pace = async () => {
    if (out.full) await out.flush();
    if (out.keys - reported >= 50_000) {
      post({ type: 'progress', followers, edges, keys: out.keys });
      reported = out.keys;
    }
  };

  try {
    if (job.generate && job.plan) {
      const g = job.generate;
      const gen = new Generator(g);
      const plan = job.plan;
      const lexOrder = new Int32Array(plan.lexOrder);
      const userStart = new Int32Array(plan.userStart);
      const users = new Int32Array(plan.users);
      const pairStart = new Int32Array(plan.pairStart);
      const pairs = new Float64Array(plan.pairs);
      const n = g.users;
      for (const s of job.shards) {
        const prefix = shardPrefix(s);
        // Kinds in key order: F (followers: the celebrity's, then the friends') < P < a < f.
        if (s === plan.celebrityShard && g.celebrityFollowers > 0) {
          // Shard by shard, each shard's users in key order: the key order of <shard(F)>!F.
          for (let fs = 0; fs < job.shardCount; fs++) {
            const celebrity = `${prefix}F!${g.celebrity}!${shardPrefix(fs)}`;
            for (let u = userStart[fs]; u < userStart[fs + 1]; u++) {
              const i = users[u];
              if (i >= g.celebrityFollowers) continue;
              out.put(celebrity + 'u' + i, ts);
              await pace();
            }
          }
        }
        for (let p = pairStart[s]; p < pairStart[s + 1]; p++) {
          const high = Math.floor(pairs[p] / n);
          const j = lexOrder[Math.floor(high / job.shardCount)];
          const i = lexOrder[pairs[p] - high * n];
          out.put(`${prefix}F!u${j}!${shardPrefix(high % job.shardCount)}u${i}`, ts);
          await pace();
        }
        for (let u = userStart[s]; u < userStart[s + 1]; u++) {
          const i = users[u];
          const list = gen.edgesOf(i);
          if (list.length) writeFollower(s, prefix, `u${i}`, list);
          await pace();
        }
        await writeIndex();
      }
    } else if (job.share) {
      // The main thread read the file once and sent each node its share, with the shards computed.
      const sh = job.share;
      const byShard = new Map<number, { followers: Map<UserId, Edge[]>; followed: Array<[UserId, UserId]> }>();
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
          // A repeated edge: the later line wins.
          const at = list.findIndex((e) => e.followee === edge.followee);
          if (at >= 0) list[at] = edge;
          else list.push(edge);
        }
      }
      for (let k = 0; k < sh.followedBy.length; k++) bucket(sh.followedShard[k]).followed.push([sh.followed[k], sh.followedBy[k]]);
      const byKey = (a: [UserId, UserId], b: [UserId, UserId]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
      for (const s of job.shards) {
        const b = byShard.get(s);
        if (!b) continue;
        const prefix = shardPrefix(s);
        let previous = '';
        for (const [c, f] of b.followed.sort(byKey)) {
          // A repeated edge is one key.
          const key = `${prefix}F!${c}!${f}`;
          if (key === previous) continue;
          previous = key;
          out.put(key, ts);
          await pace();
        }
        for (const f of [...b.followers.keys()].sort()) {
          writeFollower(s, prefix, f, b.followers.get(f)!);
          await pace();
        }
        await writeIndex();
      }
    }
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
  post({ type: 'done', followers, edges, keys: out.keys, indexKeys: indexWritten, expected });
}

/** Opens (and so locks) every node's DB in this thread; a held LOCK means the cluster is running: refuse clearly. */
async function lockNodes(dataDir: string, table: ShardTable): Promise<Array<ClassicLevel<string, Uint8Array>>> {
  const dbs: Array<ClassicLevel<string, Uint8Array>> = [];
  try {
    for (const spec of table.data.nodes) {
      if (spec.host) throw new Error(`node ${spec.id} is remote (${spec.host}): import into its data dir on that host`);
      const path = join(dataDir, spec.id);
      mkdirSync(path, { recursive: true });
      const db = openDb(path);
      try {
        await db.open({ multithreading: true });
      } catch (err) {
        const e = err as { code?: string; cause?: { code?: string; message?: string } };
        if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED' || /lock/i.test(e.cause?.message ?? '')) {
          throw new Error(
            `${path} is locked by another process: is the cluster running on ${dataDir}? The importer writes the nodes' ` +
              `LevelDBs directly, so the cluster must be STOPPED (each node holds its LevelDB's LOCK while it runs). Stop it, then import again.`,
          );
        }
        throw err;
      }
      dbs.push(db);
    }
  } catch (err) {
    await Promise.all(dbs.map((db) => db.close().catch(() => undefined)));
    throw err;
  }
  return dbs;
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
  const table = ShardTable.create(shards, defaultNodes(nodes));
  table.save(file);
  log(`created ${file}: ${shards} shards on ${nodes} nodes`);
  return table;
}

export async function importGraph(o: ImportOptions): Promise<ImportResult> {
  const dataDir = resolve(o.dataDir);
  const table = o.dryRun ? (ShardTable.load(join(dataDir, 'cluster.json')) ?? ShardTable.create(o.shards, defaultNodes(o.nodes))) : tableOf(dataDir, o.shards, o.nodes, o.log);
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
        // The compiled script, also when this module was loaded from source (tests): a worker runs JavaScript.
        const file = __filename.endsWith('.ts') ? join(__dirname, '..', 'dist', 'scripts', 'import.js') : __filename;
        const worker = new Worker(file, { workerData: job });
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
    let expected: Expected | undefined;
    if (expectAuthor) {
      const reasons: Record<string, number> = {};
      for (const r of results) for (const [k, v] of Object.entries(r.expected.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
      const chosen = results.reduce((a, r) => a + r.expected.chosen, 0);
      const authorFollowers = results.reduce((a, r) => a + r.expected.followers, 0);
      expected = {
        author: expectAuthor,
        entities: expectEntities,
        followers: authorFollowers,
        chosen,
        fraction: Math.round((chosen / Math.max(1, authorFollowers)) * 10_000) / 10_000,
        reasons,
        chosen_sample: Object.fromEntries(nodes.map((n, k) => [n, results[k].expected.chosen_sample])),
        not_chosen_sample: Object.fromEntries(nodes.map((n, k) => [n, results[k].expected.not_chosen_sample])),
      };
    }
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

export function parseImportArgs(args: string[]): ImportOptions | undefined {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      shards: { type: 'string' },
      nodes: { type: 'string' },
      file: { type: 'string' },
      edges: { type: 'string' },
      generate: { type: 'boolean' },
      celebrity: { type: 'string' },
      'celebrity-followers': { type: 'string' },
      users: { type: 'string' },
      'min-followings': { type: 'string' },
      'avg-followings': { type: 'string' },
      'entities-per-user': { type: 'string' },
      vocabulary: { type: 'string' },
      'friend-engagement': { type: 'string' },
      'fan-fraction': { type: 'string' },
      'fan-engagement': { type: 'string' },
      'celebrity-engagement': { type: 'string' },
      seed: { type: 'string' },
      'expect-author': { type: 'string' },
      'expect-entities': { type: 'string' },
      sample: { type: 'string' },
      batch: { type: 'string' },
      'no-progress': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const num = (name: string, v: string | undefined, d: number, min = 1) => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}`);
    return n;
  };
  const int = (name: string, v: string | undefined, d: number, min = 1) => {
    const n = num(name, v, d, min);
    if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer`);
    return n;
  };
  if ([values.generate, values.file, values.edges].filter(Boolean).length !== 1) throw new Error('give exactly one of --generate, --file FILE and --edges FILE');
  const celebrityFollowers = int('celebrity-followers', values['celebrity-followers'], 1_000_000, 0);
  const generate: GenerateOptions | undefined = values.generate
    ? {
        celebrity: values.celebrity ?? 'celeb',
        celebrityFollowers,
        users: int('users', values.users, Math.max(celebrityFollowers, 2), 2),
        minFollowings: int('min-followings', values['min-followings'], 5, 0),
        avgFollowings: num('avg-followings', values['avg-followings'], 6, 0),
        entitiesPerUser: int('entities-per-user', values['entities-per-user'], 5, 0),
        vocabulary: int('vocabulary', values.vocabulary, 1000),
        friendEngagement: num('friend-engagement', values['friend-engagement'], 4, 0),
        fanFraction: num('fan-fraction', values['fan-fraction'], 0.1, 0),
        fanEngagement: num('fan-engagement', values['fan-engagement'], 20, 0),
        celebrityEngagement: num('celebrity-engagement', values['celebrity-engagement'], 0.05, 0),
        seed: int('seed', values.seed, 42, 0),
      }
    : undefined;
  if (generate && generate.avgFollowings < generate.minFollowings) throw new Error('--avg-followings must be at least --min-followings');
  if (generate && generate.fanFraction > 1) throw new Error('--fan-fraction is a share: 0..1');
  if (generate && generate.users < generate.celebrityFollowers) throw new Error('--users must be at least --celebrity-followers');
  if (generate && (/^u\d+$/.test(generate.celebrity) || generate.celebrity.includes('!'))) throw new Error('--celebrity must not look like a generated user id (u<n>) nor hold "!"');
  return {
    dataDir: values.data ?? './data',
    shards: int('shards', values.shards, 256),
    nodes: int('nodes', values.nodes, 3),
    generate,
    file: values.file ?? values.edges,
    csv: !!values.edges,
    expectAuthor: values['expect-author'],
    expectEntities: (values['expect-entities'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    sample: int('sample', values.sample, 3, 0),
    batchOps: int('batch', values.batch, 5000),
    progress: !values['no-progress'],
    dryRun: !!values['dry-run'],
    profile: DEFAULT_PROFILE,
    log: (s) => process.stderr.write(`[import] ${s}\n`),
  };
}

async function main(): Promise<void> {
  let opts: ImportOptions | undefined;
  try {
    opts = parseImportArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`herald import: ${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (!opts) {
    console.log(HELP);
    return;
  }
  const result = await importGraph(opts);
  opts.log(`${result.edges} edges (${result.followers} followers) in ${result.seconds}s: ${result.edges_per_s} edges/s, ${result.keys_per_s} keys/s`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.heraldImport) {
  runWorker(workerData as WorkerJob).catch((err) => {
    parentPort!.postMessage({ type: 'error', message: String(err?.stack ?? err) } satisfies WorkerMessage);
    process.exit(1);
  });
} else if (require.main === module) {
  main().catch((err) => {
    console.error(`herald import: ${err?.message ?? err}`);
    process.exit(1);
  });
}
