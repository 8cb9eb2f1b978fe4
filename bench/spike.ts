import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type WebSocket from 'ws';
import { Auth } from '../gateway/Auth';
import { ClusterProcess } from '../scripts/ClusterProcess';
import { parseOptions } from './harness/args';
import { logClusterTail } from './harness/clusterLogs';
import { dropDataDir, tempDataDir } from './harness/dataDir';
import { importEdges, type ImportEdge } from './harness/import';
import { machineBusyBefore } from './harness/machine';
import { printResult, progressLog, runIfEntry } from './harness/main';
import { mulberry32 } from './harness/random';
import { round } from './harness/round';
import { measureLimits } from './limits';
import { compareTimelineAppends } from './redis';
import { loadScenario, type Scenario } from './scenario';
import { Replay } from './spikeReplay';

export type { QueueSample, Series, SpikeRun } from './spikeReplay';

/**
 * `npm run bench -- spike [--scenario NAME|FILE] [--no-redis] [--no-sync] [--out FILE]`: replays a scenario
 * (bench/scenarios/spike.json: steady triggered traffic, a 25x spike, celebrity tweets) on a real 3-node
 * cluster with a synthetic bimodal graph, and measures it against the raw limits of the machine and Redis.
 *
 *  1. limits:     raw LevelDB chained-batch rate, raw ws send rate, raw IPC rate (bench/limits.ts), first, alone.
 *  2. graph:      ordinary users each follow a few others (low mode); each celebrity is followed by thousands who
 *                 engaged with its topic (high mode): imported into the data dir by scripts/import.ts before the
 *                 cluster starts (default), or published as follow + like events (`--graph events`, untimed).
 *  3. timeline:   the phases, open loop: event k of a phase has an INTENDED send time (phase start + k/rate); the
 *                 sender sends every event whose time has come each tick, so a stalled sender or server shows up
 *                 as latency, never as fewer samples (no coordinated omission). Latency = arrival of the
 *                 notification at a subscriber - intended send time of its event. Celebrity tweets are timed the
 *                 same way (their fanout deliveries are reported apart: the bulk path).
 *  4. sampling:   every second, GET /metrics (admin token): queue depths per node, rejections, server latency.
 *  5. Redis:      timeline appends side by side (bench/redis.ts) on the idle cluster, unless --no-redis.
 *
 * The replay itself is bench/spikeReplay.ts. Writes every figure and the per-second series to bench/report/spike-run.json (`npm run bench:report` draws
 * them) and prints ONE JSON line last on stdout. Progress goes to stderr.
 */

const log = progressLog('spike');

/** bench/report in the source tree (also when running from dist/). */
export function reportDir(): string {
  return join(__dirname.replace(/[\\/]dist[\\/]bench$/, '/bench'), 'report');
}

const OPTIONS = {
  scenario: { type: 'string', default: 'spike' },
  'no-redis': { type: 'boolean' },
  'no-sync': { type: 'boolean' },
  'limits-ms': { type: 'number', default: 1500, min: 0 },
  'redis-seconds': { type: 'number', default: 3, above: 0 },
  out: { type: 'string' },
  'keep-data': { type: 'boolean' },
  /** How the graph gets in: `import` (scripts/import.ts into the data dir before the cluster starts) or `events`. */
  graph: { type: 'string', default: 'import', choices: ['import', 'events'] },
} as const;

function options(args: string[]) {
  const { values: v } = parseOptions(args, OPTIONS);
  return {
    scenario: v.scenario,
    redis: !v['no-redis'],
    sync: !v['no-sync'],
    limitsMs: v['limits-ms'],
    redisSeconds: v['redis-seconds'],
    out: resolvePath(v.out ?? join(reportDir(), 'spike-run.json')),
    keepData: v['keep-data'],
    graph: v.graph,
  };
}

/**
 * The scenario's bimodal graph, drawn from `random`: each ordinary user follows a few others (low mode); each
 * celebrity is followed by u0..u<followers-1>, who also liked one of its tweets on its topic (affinity follow 1 +
 * like 1, the topic as an entity), so its tweets match their interest profile (docs/fanout.md).
 */
function graphEdges(sc: Scenario, random: () => number): ImportEdge[] {
  const g = sc.graph;
  const pick = (n: number) => Math.floor(random() * n);
  const edges: ImportEdge[] = [];
  for (let i = 0; i < g.users; i++) {
    const k = g.followings[0] + pick(g.followings[1] - g.followings[0] + 1);
    const seen = new Set<number>();
    for (let n = 0; n < k && seen.size < g.users - 1; n++) {
      let j = pick(g.users);
      while (j === i || seen.has(j)) j = pick(g.users);
      seen.add(j);
      edges.push({ follower: `u${i}`, followee: `u${j}`, affinity: 1 });
    }
  }
  for (const c of g.celebrities) for (let i = 0; i < c.followers; i++) edges.push({ follower: `u${i}`, followee: c.id, affinity: 2, entities: [c.topic] });
  return edges;
}

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  const scenario = loadScenario(o.scenario);
  log(`scenario ${scenario.name}: ${scenario.phases.map((p) => `${p.name} ${p.seconds}s @ ${p.rate}/s`).join(', ')}`);
  const idleLoad = await machineBusyBefore(log);
  const limits = await measureLimits(o.limitsMs, log);

  const dataDir = tempDataDir('spike');
  let cluster: ClusterProcess | undefined;
  const sockets: WebSocket[] = [];
  try {
    // One seeded stream draws the graph, then the timeline's events: the same scenario replays the same day.
    const random = mulberry32(scenario.graph.seed);
    const edges = graphEdges(scenario, random);
    let imported: { seconds: number; keys: number } | undefined;
    if (o.graph === 'import') {
      imported = await importEdges(edges, dataDir, log);
      log(`graph: ${edges.length} follow edges imported (scripts/import.ts, ${imported.keys} keys) in ${imported.seconds.toFixed(1)}s`);
    }
    cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', '--nodes', '3', ...(o.sync ? [] : ['--no-sync'])]);
    log(`cluster up: ${cluster.info.http}, gateway pid ${cluster.pid}, nodes ${JSON.stringify(cluster.info.nodes)}, sync=${o.sync}`);
    const run = await new Replay(scenario, cluster, dataDir, sockets, limits, idleLoad, random, o.sync).run(o.graph === 'events' ? edges : undefined);
    (run.summary.graph as Record<string, unknown>).via = o.graph;
    if (imported) Object.assign(run.summary.graph as object, { edges: edges.length, import_seconds: round(imported.seconds, 1), import_keys: imported.keys });
    for (const ws of sockets) ws.terminate();
    if (o.redis) {
      log('timeline appends side by side: Redis, herald in process, herald through the gateway');
      const auth = Auth.fromDataDir(dataDir);
      run.redis = await compareTimelineAppends({
        seconds: o.redisSeconds,
        users: 1000,
        batch: 500,
        inflight: 4,
        gateway: { url: cluster.info.ws, tokens: Array.from({ length: 4 }, (_, i) => auth.sign(`append-${i}`, 'producer', 3600)), syncWrites: o.sync },
        log,
      });
      run.summary.redis = {
        redis_appends_per_s: 'error' in run.redis.redis ? null : run.redis.redis.appends_per_s,
        redis_error: 'error' in run.redis.redis ? run.redis.redis.error : undefined,
        herald_node_appends_per_s: run.redis.herald_node.appends_per_s,
        herald_node_nosync_appends_per_s: run.redis.herald_node_nosync.appends_per_s,
        herald_gateway_appends_per_s: run.redis.herald_gateway?.appends_per_s ?? null,
        ratio_herald_node_vs_redis: run.redis.ratio_herald_node_vs_redis,
        ratio_herald_node_nosync_vs_redis: run.redis.ratio_herald_node_nosync_vs_redis,
        ratio_herald_gateway_vs_redis: run.redis.ratio_herald_gateway_vs_redis,
      };
    }
    mkdirSync(join(o.out, '..'), { recursive: true });
    run.summary.results_file = o.out;
    writeFileSync(o.out, JSON.stringify(run, null, 1));
    log(`per-second series and every figure written to ${o.out} (npm run bench:report draws them)`);
    printResult(run.summary);
  } catch (err) {
    logClusterTail(cluster, log);
    throw err;
  } finally {
    for (const ws of sockets) ws.terminate();
    if (cluster) log(`cluster stopped (exit ${await cluster.stop()})`);
    dropDataDir(dataDir, o.keepData, log);
  }
}

// Also runnable on its own: `node dist/bench/spike.js [options]` (same as `npm run bench -- spike`).
runIfEntry(module, main);
