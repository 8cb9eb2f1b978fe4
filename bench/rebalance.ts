import { rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ShardTable } from '../cluster/ShardTable';
import { Auth } from '../gateway/Auth';
import { ClusterProcess } from '../scripts/ClusterProcess';
import { openDb } from '../scripts/import/writer';
import { shardOf, shardPrefix } from '../storage/Keyspace';
import { parseOptions } from './harness/args';
import { logClusterTail } from './harness/clusterLogs';
import { fromTemplate } from './harness/DataTemplate';
import { dropDataDir, tempDataDir } from './harness/dataDir';
import { http } from './harness/http';
import { runImport } from './harness/import';
import { LatencyRecorder } from './harness/LatencyRecorder';
import { gitCommit, machineBusyBefore } from './harness/machine';
import { printResult, progressLog } from './harness/main';
import { OpenLoop } from './harness/OpenLoop';
import { Probe } from './harness/Probe';
import { mulberry32 } from './harness/random';
import { round } from './harness/round';
import { cpuMeter } from './harness/sampler';
import { sleep } from './harness/sleep';
import { Subscribers } from './harness/Subscribers';
import { seqOf } from './harness/timedId';
import { seedTimelines } from './rebalanceSeed';

/**
 * `npm run bench -- rebalance`: a 3-node cluster holding --users users goes to 4 nodes under a triggered load
 * (docs/benchmarks.md, "rebalance").
 *
 *  1. data, into a temp data dir of a stopped cluster: scripts/import.ts (a child process) writes a generated
 *     graph (every user follows --min-followings + Poisson ... --avg-followings others: followings, followers,
 *     affinities, interest profile); then this bench writes every followed user's timeline: its newest
 *     --timeline follow notifications ("u12 followed you", the entries the importer leaves out) and the timeline
 *     meta, in the format UserActor writes (storage/Timeline.ts), straight into the nodes' LevelDBs.
 *  2. raw limit, alone on the machine: node-1's LevelDB scanned with iterator nextv(--move-batch) and written
 *     into a new LevelDB with one chained batch per chunk, fsynced (what a move does, in one process); keys/s, MB/s.
 *  3. the cluster starts on the data (--config: moveBatchKeys, moveThrottleMs, moveKeysPerS); --recipients subscribe;
 *     an open loop offers --rate like events/s (random imported users like a recipient's tweet), latency from
 *     each event's INTENDED send time to its arrival at the recipient's socket (no coordinated omission).
 *  4. after --warmup s: POST /v1/admin/nodes {rebalance:false} (node-4 forked), GET /v1/admin/plan (the shards
 *     that will move), POST /v1/admin/rebalance {concurrency}; GET /v1/admin/status every 2 s until the operation
 *     ends: seconds, keysMoved, bytesMoved. Share of keys moved = keysMoved / keys in the cluster.
 *
 * Progress goes to stderr; the last stdout line is one JSON object with every figure.
 */

const FLOOR_SECONDS = 120;
const FLOOR_P99_MS = 100;

interface Options {
  users: number;
  shards: number;
  minFollowings: number;
  avgFollowings: number;
  entitiesPerUser: number;
  celebrityFollowers: number;
  timeline: number;
  rate: number;
  frameEvents: number;
  recipients: number;
  producers: number;
  warmupS: number;
  afterS: number;
  timeoutS: number;
  concurrency: number;
  moveBatch: number;
  moveThrottleMs: number;
  moveKeysPerS?: number;
  rawMs: number;
  template?: string;
  profileDir?: string;
  stagesDir?: string;
  traceDir?: string;
  keepData: boolean;
}

/** Counts are at least 1 unless `min: 0` says none is allowed. */
const OPTIONS = {
  users: { type: 'number', default: 1_000_000, min: 1 },
  shards: { type: 'number', default: 256, min: 1 },
  'min-followings': { type: 'number', default: 2, min: 0 },
  'avg-followings': { type: 'number', default: 3, min: 0 },
  'entities-per-user': { type: 'number', default: 3, min: 0 },
  'celebrity-followers': { type: 'number', default: 0, min: 0 },
  timeline: { type: 'number', default: 3, min: 0 },
  rate: { type: 'number', default: 500, min: 1 },
  'frame-events': { type: 'number', default: 5, min: 1 },
  recipients: { type: 'number', default: 200, min: 1 },
  producers: { type: 'number', default: 2, min: 1 },
  warmup: { type: 'number', default: 10, min: 1 },
  after: { type: 'number', default: 3, min: 0 },
  timeout: { type: 'number', default: 150, min: 1 },
  concurrency: { type: 'number', default: 2, min: 1 },
  'move-batch': { type: 'number', default: 2000, min: 1 },
  'move-throttle-ms': { type: 'number', default: 0, min: 0 },
  /** Unset: the cluster's default (core/config.ts). */
  'move-keys-per-s': { type: 'number', min: 0 },
  'raw-ms': { type: 'number', default: 3000, min: 1 },
  template: { type: 'string' },
  profile: { type: 'string' },
  stages: { type: 'string' },
  trace: { type: 'string' },
  'keep-data': { type: 'boolean' },
} as const;

function options(args: string[]): Options {
  const { values } = parseOptions(args, OPTIONS);
  return {
    users: values.users,
    shards: values.shards,
    minFollowings: values['min-followings'],
    avgFollowings: values['avg-followings'],
    entitiesPerUser: values['entities-per-user'],
    celebrityFollowers: values['celebrity-followers'],
    timeline: values.timeline,
    rate: values.rate,
    frameEvents: values['frame-events'],
    recipients: values.recipients,
    producers: values.producers,
    warmupS: values.warmup,
    afterS: values.after,
    timeoutS: values.timeout,
    concurrency: values.concurrency,
    moveBatch: values['move-batch'],
    moveThrottleMs: values['move-throttle-ms'],
    moveKeysPerS: values['move-keys-per-s'],
    rawMs: values['raw-ms'],
    template: values.template,
    profileDir: values.profile,
    stagesDir: values.stages,
    traceDir: values.trace,
    keepData: values['keep-data'],
  };
}

const log = progressLog('rebalance');

/**
 * `--trace`: the load's latency in 250 ms bins of intended send time (wall clock, as the nodes' trace rows), from
 * 10 s before the move, with the operation's own start and end, to line up with the processes' samples.
 */
function latencySeries(samples: { intended: number[]; ms: number[] }, moveT0: number, op: any): object {
  const toWall = Date.now() - performance.now();
  const from = moveT0 - 10_000;
  const bins = new Map<number, number[]>();
  for (let i = 0; i < samples.ms.length; i++) {
    if (samples.intended[i] < from) continue;
    const b = Math.floor((samples.intended[i] + toWall) / 250) * 250;
    let v = bins.get(b);
    if (!v) bins.set(b, (v = []));
    v.push(samples.ms[i]);
  }
  const rows = [...bins]
    .sort((x, y) => x[0] - y[0])
    .map(([t, v]) => {
      v.sort((x, y) => x - y);
      return { t, n: v.length, p50: round(v[Math.floor(v.length / 2)]), max: round(v[v.length - 1]) };
    });
  return { moveStartedAt: op?.startedAt, moveFinishedAt: op?.finishedAt, rows };
}

/**
 * Raw limit of a move, in one process: scan a node's DB with iterator nextv(`batch`) and write each chunk into
 * a new DB as one chained batch (fsynced or not), for `ms`. Bytes count as the coordinator counts bytesMoved.
 */
async function rawScanWrite(source: string, dest: string, batch: number, sync: boolean, ms: number) {
  const src = openDb(source);
  const dst = openDb(dest);
  await src.open();
  await dst.open();
  let keys = 0;
  let bytes = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  try {
    const it = src.iterator({ gte: shardPrefix(0), lt: '~' });
    try {
      while (performance.now() - t0 < ms) {
        const rows = await it.nextv(batch);
        if (!rows.length) break;
        const b = dst.batch();
        for (const [k, v] of rows) {
          b.put(k, v);
          bytes += k.length + v.byteLength;
        }
        await b.write({ sync });
        keys += rows.length;
      }
    } finally {
      await it.close();
    }
  } finally {
    await Promise.all([src.close(), dst.close()]);
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // CPU of this process (its JS thread and LevelDB's threads) per 1000 keys copied.
  const cpuMsPer1000Keys = ((cpu.user + cpu.system) / 1000 / Math.max(1, keys)) * 1000;
  return {
    keys_per_s: Math.round(keys / secs),
    mb_per_s: round(bytes / 1e6 / secs),
    keys,
    seconds: round(secs),
    cpu_ms_per_1000_keys: round(cpuMsPer1000Keys),
  };
}

/** See `move_cpu_ms_per_1000_keys`. */
function moveCpuPer1000(before: Record<string, number | null>, during: Record<string, number | null>, keys: number, seconds: number): number | null {
  const cluster = (m: Record<string, number | null>) =>
    Object.entries(m)
      .filter(([k]) => k === 'gateway' || k.startsWith('node-'))
      .reduce((a, [, v]) => a + (v ?? 0), 0);
  if ((before.other ?? 1) > 0.2 || (during.other ?? 1) > 0.2 || !keys) return null;
  return round(((cluster(during) - cluster(before)) * seconds * 1000) / (keys / 1000));
}

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  const started = performance.now();
  log(`options ${JSON.stringify(o)}`);
  const idleLoad = await machineBusyBefore(log);

  const dataDir = tempDataDir('rebalance');
  let cluster: ClusterProcess | undefined;
  let subscribers: Subscribers | undefined;
  let loop: OpenLoop | undefined;
  let node4Pid: number | undefined;
  try {
    // ---- 1. Data.
    const now = Date.now();
    const graphArgs = [
      '--generate',
      '--users',
      String(o.users),
      '--celebrity-followers',
      String(o.celebrityFollowers),
      '--min-followings',
      String(o.minFollowings),
      '--avg-followings',
      String(o.avgFollowings),
      '--entities-per-user',
      String(o.entitiesPerUser),
      '--nodes',
      '3',
      '--sample',
      '0',
      '--no-progress',
      '--shards',
      String(o.shards),
    ];
    const dataKey = JSON.stringify({ graphArgs, timeline: o.timeline });
    const t1 = performance.now();
    const { made, copied } = await fromTemplate(o.template, dataKey, dataDir, async () => {
      log(`importing ${o.users} users (${o.minFollowings}+ followings, avg ${o.avgFollowings}; celebrity followers ${o.celebrityFollowers})`);
      const imported = await runImport(['--data', dataDir, ...graphArgs]);
      log(`imported ${imported.followers} users, ${imported.edges} edges, ${imported.keys} keys in ${imported.seconds}s (${imported.keys_per_s} keys/s)`);
      const seeded = await seedTimelines(dataDir, o.timeline, now);
      log(`timelines: ${seeded.users} users, ${seeded.keys} keys (entries + metas) in ${seeded.seconds.toFixed(1)}s`);
      return { imported, seeded };
    });
    const { imported, seeded } = made;
    if (copied)
      log(
        `data copied from the template ${o.template} in ${((performance.now() - t1) / 1000).toFixed(1)}s (import was ${imported.seconds}s, timelines ${seeded.seconds.toFixed(1)}s)`,
      );
    const dataSeconds = (performance.now() - t1) / 1000;
    const keysBefore = imported.keys + seeded.keys;

    // ---- 2. Raw scan + write.
    const rawDir = tempDataDir('rebalance-raw');
    let rawSync: Awaited<ReturnType<typeof rawScanWrite>>;
    let rawNoSync: Awaited<ReturnType<typeof rawScanWrite>>;
    try {
      rawSync = await rawScanWrite(join(dataDir, 'node-1'), join(rawDir, 'sync'), o.moveBatch, true, o.rawMs);
      log(`raw leveldb scan (nextv ${o.moveBatch}) + chained-batch write, fsynced: ${rawSync.keys_per_s} keys/s, ${rawSync.mb_per_s} MB/s`);
      rawNoSync = await rawScanWrite(join(dataDir, 'node-1'), join(rawDir, 'nosync'), o.moveBatch, false, o.rawMs);
      log(`raw leveldb scan + write, not synced: ${rawNoSync.keys_per_s} keys/s, ${rawNoSync.mb_per_s} MB/s`);
    } finally {
      rmSync(rawDir, { recursive: true, force: true });
    }

    // ---- 3. Cluster, subscribers, load.
    const configFile = join(dataDir, 'bench-config.json');
    const config = { moveBatchKeys: o.moveBatch, moveThrottleMs: o.moveThrottleMs, ...(o.moveKeysPerS === undefined ? {} : { moveKeysPerS: o.moveKeysPerS }) };
    writeFileSync(configFile, JSON.stringify(config));
    const probe = Probe.from(o.profileDir, o.stagesDir, o.traceDir);
    const tStart = performance.now();
    cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', '--config', configFile], { env: probe?.env(), timeoutMs: 90_000 });
    const c = cluster;
    const startSeconds = (performance.now() - tStart) / 1000;
    log(`cluster up in ${startSeconds.toFixed(1)}s: ${c.info.http}, gateway pid ${c.pid}, nodes ${JSON.stringify(c.info.nodes)}`);
    const auth = Auth.fromDataDir(dataDir);
    const admin = auth.sign('bench', 'admin', 3600);
    const api = <T = any>(method: string, path: string, body?: object) => http<T>(c.info.http, admin, method, path, body);
    const pids = () => ({ gateway: c.pid, ...c.info.nodes, ...(node4Pid ? { 'node-4': node4Pid } : {}), bench: process.pid });

    const step = Math.floor(o.users / o.recipients);
    const recipients = Array.from({ length: o.recipients }, (_, i) => `u${i * step}`);
    // Every sample (intended time, latency, event seq); windows are cut at the end.
    const samples = { intended: [] as number[], ms: [] as number[], seq: [] as number[] };
    type Window = { name: string; t0: number; t1: number };
    const windows: Window[] = [];
    const window = (name: string) => {
      const w: Window = { name, t0: performance.now(), t1: Infinity };
      const prev = windows[windows.length - 1];
      if (prev && prev.t1 === Infinity) prev.t1 = w.t0;
      windows.push(w);
      return w;
    };
    // Shards of each event's actor and author, to split the latency by whether a moving shard was involved.
    let eventShards = new Int32Array(1 << 20);
    const shardCount = ShardTable.load(join(dataDir, 'cluster.json'))!.shardCount;
    subscribers = new Subscribers((intended, ms, _user, id) => {
      samples.intended.push(intended);
      samples.ms.push(ms);
      samples.seq.push(seqOf(id));
    });
    await subscribers.subscribe(c.info.ws, recipients, (u) => auth.sign(u, 'user', 3600), log);
    log(`${recipients.length} subscribers subscribed (users u0, u${step}, ...)`);
    const rand = mulberry32(7);
    loop = new OpenLoop({
      rate: o.rate,
      frameEvents: o.frameEvents,
      makeEvent: (seq, id) => {
        const author = recipients[seq % recipients.length];
        let actor = `u${Math.floor(rand() * o.users)}`;
        if (actor === author) actor = `u${(Number(author.slice(1)) + 1) % o.users}`;
        if (2 * seq + 1 >= eventShards.length) {
          const bigger = new Int32Array(eventShards.length * 2);
          bigger.set(eventShards);
          eventShards = bigger;
        }
        eventShards[2 * seq] = shardOf(actor, shardCount);
        eventShards[2 * seq + 1] = shardOf(author, shardCount);
        // A tweet per event: no aggregation, one entry and one live notification per like.
        return { id, type: 'like', actor, tweet: { id: `tw-b${seq}`, author, text: 'b' } };
      },
    });
    await loop.connect(c.info.ws, (p) => auth.sign(`producer-${p}`, 'producer', 3600), Math.max(o.producers, Math.ceil(o.rate / o.frameEvents / 100)));
    const warm = window('warmup');
    loop.start();
    const status = () => api('GET', '/v1/admin/status');
    let last = '';
    const progress = setInterval(() => {
      const line = `  +${((performance.now() - warm.t0) / 1000).toFixed(0)}s: offered ${loop!.seq}, acked ${loop!.acked}, delivered ${subscribers!.delivered}, rejected ${JSON.stringify(loop!.rejected)}${last}`;
      log(line);
    }, 5000);
    // The nodes compact the freshly written data for their first seconds: 'before' is the last 4 s of the warmup.
    await sleep(Math.max(1, o.warmupS - 4) * 1000);
    const before = window('before');
    const cpuBefore = cpuMeter(pids);

    await sleep(Math.min(4, o.warmupS) * 1000);

    // ---- 4. 3 -> 4 nodes.
    const cpuBeforeMove = cpuBefore();
    const statusBefore = await status();
    const addWin = window('add-node');
    const tAdd = performance.now();
    const added = await api<{ node: string; pid: number }>('POST', '/v1/admin/nodes', { rebalance: false });
    node4Pid = added.pid;
    const addSeconds = (performance.now() - tAdd) / 1000;
    const plan = await api<{ moves: Array<{ shard: number; from?: string; to: string }> }>('GET', '/v1/admin/plan');
    const movedShards = new Set(plan.moves.map((m) => m.shard));
    log(`${added.node} added (pid ${added.pid}) in ${addSeconds.toFixed(1)}s; plan: ${plan.moves.length} shards to move`);
    const during = window('during');
    const probed = [c.pid, ...Object.values(c.info.nodes), added.pid];
    const stopProbe = probe?.window('move', probed);
    const cpuMove = cpuMeter(pids);
    await api('POST', '/v1/admin/rebalance', { concurrency: o.concurrency });
    const deadline = performance.now() + o.timeoutS * 1000;
    let op: any;
    let lastPollWall = Date.now();
    for (;;) {
      await sleep(2000);
      op = (await status()).operation;
      lastPollWall = Date.now();
      if (op)
        last = `; move: ${op.shardsDone}/${op.shardsTotal} shards, ${op.keysMoved} keys, ${(op.bytesMoved / 1e6).toFixed(0)} MB, ${Math.round(op.keysMoved / Math.max(0.001, (Date.now() - op.startedAt) / 1000))} keys/s`;
      if (!op || op.state !== 'running' || performance.now() > deadline) break;
    }
    const after = window('after');
    const cpuDuring = cpuMove();
    if (stopProbe) {
      const out = await stopProbe();
      log(`move: ${probe!.mode} files written to ${out}`);
      if (probe!.mode === 'trace') writeFileSync(join(out, 'latency.json'), JSON.stringify(latencySeries(samples, during.t0, op)));
    }
    const finished = op && op.state !== 'running';
    if (!finished) log(`the rebalance did not finish within --timeout ${o.timeoutS}s: reporting it as running`);
    // The exact end of the move: the operation's own timestamps (wall clock), mapped onto the performance clock.
    if (finished && op.finishedAt) during.t1 = after.t0 = performance.now() - (Date.now() - op.finishedAt);
    await sleep(o.afterS * 1000);
    await loop.stop();
    after.t1 = performance.now();
    clearInterval(progress);
    const drainUntil = performance.now() + 15_000;
    while ((loop.inFlight > 0 || subscribers.delivered < loop.acked) && performance.now() < drainUntil) await sleep(50);
    const statusAfter = await status();

    // Unfinished (--timeout): the figures as of the last status read.
    const seconds = finished ? (op.finishedAt - op.startedAt) / 1000 : (lastPollWall - op.startedAt) / 1000;
    const users = Array.from({ length: o.users }, (_, i) => shardOf(`u${i}`, statusBefore.shardCount));
    const usersMoved = users.reduce((n, s) => n + (movedShards.has(s) ? 1 : 0), 0);
    const keysPerS = op.keysMoved / seconds;
    const mbPerS = op.bytesMoved / 1e6 / seconds;
    const cut = (w: Window, keep: (seq: number) => boolean = () => true) => {
      const out = new LatencyRecorder();
      for (let i = 0; i < samples.ms.length; i++)
        if (samples.intended[i] >= w.t0 && samples.intended[i] < w.t1 && keep(samples.seq[i])) out.record(samples.ms[i]);
      return out.summary();
    };
    const lat = Object.fromEntries(windows.map((w) => [w.name, cut(w)]));
    const touchesMoved = (seq: number) => movedShards.has(eventShards[2 * seq]) || movedShards.has(eventShards[2 * seq + 1]);
    const duringSplit = {
      events_touching_a_moved_shard: cut(during, touchesMoved),
      events_touching_no_moved_shard: cut(during, (seq) => !touchesMoved(seq)),
    };
    log(
      `latency during the move: all ${JSON.stringify(lat.during)}; touching a moved shard ${JSON.stringify(duringSplit.events_touching_a_moved_shard)}; touching none ${JSON.stringify(duringSplit.events_touching_no_moved_shard)}`,
    );
    const p99During = lat.during.p99_ms;
    const missing = loop.acked - subscribers.delivered;
    const line = {
      bench: 'rebalance',
      users: o.users,
      nodes_before: 3,
      nodes_after: statusAfter.nodes.length,
      seconds: round(seconds, 1),
      finished: !!finished,
      state: op.state,
      keys_per_s: Math.round(keysPerS),
      mb_per_s: round(mbPerS),
      // When the move did not finish within --timeout: the seconds it would take at the rate seen, for the keys
      // of the planned shards (estimated as keys_in_cluster × the share of users in them).
      projected_seconds: finished ? null : round((keysBefore * (usersMoved / o.users)) / keysPerS, 0),
      keys_moved: op.keysMoved,
      bytes_moved: op.bytesMoved,
      keys_in_cluster: keysBefore,
      share_keys_moved: round(op.keysMoved / keysBefore, 4),
      shards_moved: op.shardsDone,
      shards_failed: op.shardsFailed,
      // Moves whose parts went node → node over their link (the rest were relayed by the gateway).
      shards_direct: op.shardsDirect ?? null,
      share_shards_moved: round(plan.moves.length / statusBefore.shardCount, 4),
      share_users_moved: round(usersMoved / o.users, 4),
      triggered_p99_during_ms: p99During,
      triggered_p50_during_ms: lat.during.p50_ms,
      triggered_p99_before_ms: lat.before.p99_ms,
      raw_leveldb_scan_write_keys_per_s: rawSync.keys_per_s,
      raw_leveldb_scan_write_mb_per_s: rawSync.mb_per_s,
      ratio_keys_per_s_vs_raw: round(keysPerS / rawSync.keys_per_s, 3),
      ratio_mb_per_s_vs_raw: round(mbPerS / (rawSync.mb_per_s ?? NaN), 3),
      floors: {
        seconds: FLOOR_SECONDS,
        triggered_p99_ms: FLOOR_P99_MS,
        seconds_met: !!finished && op.shardsFailed === 0 && seconds <= FLOOR_SECONDS,
        p99_met: p99During !== null && p99During <= FLOOR_P99_MS && missing === 0,
      },
      latency: lat,
      latency_during_split: duringSplit,
      load: {
        offered_per_s: o.rate,
        offered: loop.seq,
        acked: loop.acked,
        delivered: subscribers.delivered,
        missing,
        rejected: loop.rejected,
        ack_p99_ms: round(loop.ackLatency.percentile(99)),
        sender_max_lag_ms: round(loop.maxLagMs),
        event: 'like of a new tweet of one of the subscribed recipients, by a random imported user (two shards involved: actor and author)',
        subscriber_gaps: subscribers.gaps,
        subscriber_closes: subscribers.closes,
      },
      add_node_seconds: round(addSeconds),
      raw_nosync: rawNoSync,
      raw_sync: rawSync,
      per_node_after: statusAfter.nodes.map((n: any) => ({ id: n.id, shards: n.shards, mb: round(n.bytes / 1e6, 0), stray: n.stray?.length ?? null })),
      per_node_before: statusBefore.nodes.map((n: any) => ({ id: n.id, shards: n.shards, mb: round(n.bytes / 1e6, 0) })),
      // CPU the move added to the cluster: (cluster cores during − during the load alone before) × seconds, per
      // 1000 keys moved; null when something else used the machine in either window (the figure would be wrong).
      move_cpu_ms_per_1000_keys: moveCpuPer1000(cpuBeforeMove, cpuDuring, op.keysMoved, seconds),
      raw_cpu_ms_per_1000_keys: rawSync.cpu_ms_per_1000_keys,
      cpu_cores_before: cpuBeforeMove,
      cpu_cores_during: cpuDuring,
      config: {
        shards: o.shards,
        concurrency: o.concurrency,
        moveBatchKeys: o.moveBatch,
        moveThrottleMs: o.moveThrottleMs,
        moveKeysPerS: o.moveKeysPerS ?? 'default',
        recipients: o.recipients,
        frame_events: o.frameEvents,
      },
      data: {
        what: `generated graph (scripts/import.ts --generate): every user follows ${o.minFollowings}+Poisson others (avg ${o.avgFollowings}), celebrity followers ${o.celebrityFollowers}: followings, followers, affinities and interest profile; plus, per followed user, its newest ${o.timeline} "X followed you" timeline entries and its timeline meta`,
        imported_keys: imported.keys,
        edges: imported.edges,
        timeline_keys: seeded.keys,
        users_with_timeline: seeded.users,
        import_seconds: imported.seconds,
        timeline_seconds: round(seeded.seconds, 1),
        data_seconds: round(dataSeconds, 1),
        cluster_start_seconds: round(startSeconds, 1),
        keys_per_node: imported.keys_per_node,
      },
      machine_busy_cores_before: round(idleLoad),
      nproc: availableParallelism(),
      node: process.version,
      commit: gitCommit(),
      bench_seconds: round((performance.now() - started) / 1000, 1),
    };
    void addWin;
    void before;
    printResult(line);
  } catch (err) {
    logClusterTail(cluster, log);
    throw err;
  } finally {
    await loop?.stop();
    loop?.close();
    subscribers?.close();
    if (cluster) {
      const code = await cluster.stop('SIGTERM', 15_000);
      log(`cluster stopped (exit ${code})`);
    }
    // The added node is a child of the gateway, which ends it; make sure.
    if (node4Pid) {
      try {
        process.kill(node4Pid, 0);
        await sleep(2000);
        process.kill(node4Pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    dropDataDir(dataDir, o.keepData, log);
  }
}
