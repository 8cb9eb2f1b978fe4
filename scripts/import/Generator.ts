import type { UserId } from '../../core/Event';
import { WEIGHTS } from '../../actors/user/InterestProfile';
import { mulberry32 } from '../../bench/harness/random';
import { shardOf } from '../../storage/Keyspace';
import type { Edge } from './Edge';

/** The options of a synthetic graph (`npm run import -- --generate`, `npm run gen-graph`). */
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

/**
 * The shared plan of a generated import, made once by the main thread (SharedArrayBuffers, not copied):
 *   - `shard[i]`: shard of u<i> (hashed once per user);
 *   - `lexOrder`: the user indexes in key order of their ids (u0, u1, u10, u100, ..., u2, ...);
 *   - `userStart`/`users`: the users of each shard, in key order (CSR);
 *   - `pairStart`/`pairs`: the friend edges (follower i -> followee j) of each FOLLOWEE's shard, in key order of
 *     `<j>!<shard(i)>!<i>`, each as (lexRank(j) * shards + shard(i)) * users + lexRank(i) (the celebrity's
 *     followers are u0..u<N-1>: implicit).
 */
export interface Plan {
  shard: SharedArrayBuffer;
  lexOrder: SharedArrayBuffer;
  userStart: SharedArrayBuffer;
  users: SharedArrayBuffer;
  pairStart: SharedArrayBuffer;
  pairs: SharedArrayBuffer;
  celebrityShard: number;
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
    return this.friends(i, mulberry32(userSeed(this.g.seed, i)));
  }

  /** User `u<i>`'s followings, with affinities and the entities of its engagements. */
  edgesOf(i: number): Edge[] {
    const { g, cdf } = this;
    const rand = mulberry32(userSeed(g.seed, i));
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
export function makePlan(g: GenerateOptions, shardCount: number): Plan {
  const gen = new Generator(g);
  const n = g.users;
  if (n * n * shardCount > Number.MAX_SAFE_INTEGER) throw new Error(`--users ${n} is too many for the generator's plan with ${shardCount} shards`);
  const shard = new Int32Array(new SharedArrayBuffer(4 * n));
  for (let i = 0; i < n; i++) shard[i] = shardOf(`u${i}`, shardCount);
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
    celebrityShard: shardOf(g.celebrity, shardCount),
  };
}
