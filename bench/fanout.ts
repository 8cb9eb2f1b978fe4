import { availableParallelism } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import type { UserId } from '../core/Event';
import { decide } from '../actors/fanout/FanoutPolicy';
import { InterestProfile } from '../actors/user/InterestProfile';
import { ActorRuntime } from '../cluster/ActorRuntime';
import type { NodeRef } from '../cluster/NodeRef';
import { ShardTable } from '../cluster/ShardTable';
import { Auth } from '../gateway/Auth';
import { DEFAULT_POLICY, DEFAULT_PROFILE, defaultNodeOptions, loadConfig, nodeParamsOf } from '../core/config';
import { ClusterProcess } from '../scripts/ClusterProcess';
import type { ImportResult } from '../scripts/import/importGraph';
import { shardOf } from '../storage/Keyspace';
import { createLogger } from '../core/logger';
import { NodeStore } from '../storage/NodeStore';
import { pack, unpack } from '../core/Codec';
import { NodeActor } from '../actors/node/NodeActor';
import { parseOptions } from './harness/args';
import { clusterWarnings, logClusterTail } from './harness/clusterLogs';
import { fromTemplate } from './harness/DataTemplate';
import { dropDataDir, tempDataDir } from './harness/dataDir';
import { GatewayClient, type Msg, type Notification } from './harness/GatewayClient';
import { runImport } from './harness/import';
import { LatencyRecorder } from './harness/LatencyRecorder';
import { machineBusyBefore } from './harness/machine';
import { printResult, progressLog, runIfEntry } from './harness/main';
import { Probe } from './harness/Probe';
import { mainThreadCpuUs } from './harness/procfs';
import { round } from './harness/round';
import { cpuMeterOf, ProcessSampler } from './harness/sampler';
import { sleep } from './harness/sleep';
import { Subscribers } from './harness/Subscribers';
import { intendedOf } from './harness/timedId';
import { measureLimits, type RawLimits } from './limits';

/**
 * `npm run bench -- fanout`: personalized fanout of one celebrity tweet to 1,000,000 followers on a real 3-node
 * cluster, while triggered notifications keep flowing (docs/benchmarks.md, "fanout").
 *
 *  1. import (scripts/import.ts, a child process) a generated graph into a temp data dir: the celebrity followed
 *     by --followers users spread over every node, each following a few friends it engages with more; the
 *     importer reports whom the default policy will choose (10-30% of the followers) and a sample per node.
 *  2. start the cluster on it, subscribe the triggered recipients and a few chosen (and not chosen) followers,
 *     and run an open-loop like load at --rate events/s (latency from the INTENDED send time, publish ->
 *     delivery on the recipient's socket: no coordinated omission).
 *  3. publish the celebrity's tweet; poll GET /v1/admin/stats until every follower is decided and the job is
 *     done (its chosen notifications are written, fsynced, when the author's node moves past the last page).
 *     Measures followers decided/s, publish -> done, chosen, live deliveries to the chosen subscribers, the
 *     triggered latency during the fanout, peak RSS of every process (VmRSS sampled every 100 ms), CPU.
 *  4. baseline, "no co-location": the cluster stopped, this process becomes the comedy root of the same three
 *     node processes (cluster/ActorRuntime, the transport the gateway uses) and decides --baseline-sample
 *     followers the way a design without co-location must: one request/response per follower to its owner
 *     (bench-only node op `profileOf`), --baseline-concurrency in flight, the decision made here.
 *
 * Progress goes to stderr; the last stdout line is one JSON object with every figure.
 */

const FLOOR_DONE_S = 10;
const FLOOR_P99_MS = 100;

interface Options {
  followers: number;
  minFollowings: number;
  avgFollowings: number;
  entitiesPerUser: number;
  rate: number;
  frameEvents: number;
  recipients: number;
  producers: number;
  warmupS: number;
  sample: number;
  timeoutS: number;
  baselineSample: number;
  baselineConcurrency: number;
  nodeLocal: number;
  limitsMs: number;
  profileDir?: string;
  /** Profile the second half of the warmup (triggered load alone) instead of the fanout. */
  profileWarmup: boolean;
  keepData: boolean;
  /** Only the node-local measurement, over this already imported data dir (the cluster stopped). */
  nodeLocalOnly?: string;
  /** Only the whole fanout in this process (author and every node), over this already imported data dir. */
  inProcessOnly?: string;
  /** In-process: every chosen follower's delivery packed for the gateway, as before presence on the owner. */
  allDeliveries: boolean;
  /** A cluster config file (core/config.ts options) passed to the cluster script. */
  config?: string;
  /** A dir keeping the imported graph between runs (bench only: saves the import, ~1 min per run). */
  template?: string;
}

/** Counts are at least 1 unless `min: 0` says none is allowed. */
const OPTIONS = {
  followers: { type: 'number', default: 1_000_000, min: 1 },
  'min-followings': { type: 'number', default: 5, min: 0 },
  'avg-followings': { type: 'number', default: 6, min: 0 },
  'entities-per-user': { type: 'number', default: 5, min: 0 },
  rate: { type: 'number', default: 800, min: 1 },
  'frame-events': { type: 'number', default: 4, min: 1 },
  recipients: { type: 'number', default: 100, min: 1 },
  producers: { type: 'number', default: 2, min: 1 },
  warmup: { type: 'number', default: 3, min: 1 },
  sample: { type: 'number', default: 3, min: 1 },
  timeout: { type: 'number', default: 120, min: 1 },
  'baseline-sample': { type: 'number', default: 20_000, min: 1 },
  'baseline-concurrency': { type: 'number', default: 64, min: 1 },
  'node-local': { type: 'number', default: 30_000, min: 1 },
  'limits-ms': { type: 'number', default: 1000, min: 1 },
  profile: { type: 'string' },
  'profile-warmup': { type: 'boolean' },
  'keep-data': { type: 'boolean' },
  'all-deliveries': { type: 'boolean' },
  'node-local-only': { type: 'string' },
  'in-process-only': { type: 'string' },
  config: { type: 'string' },
  template: { type: 'string' },
} as const;

function options(args: string[]): Options {
  const { values } = parseOptions(args, OPTIONS);
  return {
    followers: values.followers,
    minFollowings: values['min-followings'],
    avgFollowings: values['avg-followings'],
    entitiesPerUser: values['entities-per-user'],
    rate: values.rate,
    frameEvents: values['frame-events'],
    recipients: values.recipients,
    producers: values.producers,
    warmupS: values.warmup,
    sample: values.sample,
    timeoutS: values.timeout,
    baselineSample: values['baseline-sample'],
    baselineConcurrency: values['baseline-concurrency'],
    nodeLocal: values['node-local'],
    limitsMs: values['limits-ms'],
    profileDir: values.profile,
    profileWarmup: values['profile-warmup'],
    keepData: values['keep-data'],
    allDeliveries: values['all-deliveries'],
    nodeLocalOnly: values['node-local-only'],
    inProcessOnly: values['in-process-only'],
    config: values.config,
    template: values.template,
  };
}

const log = progressLog('fanout');

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  const started = performance.now();
  log(`options ${JSON.stringify(o)}`);
  if (o.nodeLocalOnly) {
    // Iterating on the follower side: one node's decisions over a graph imported once (`npm run import --
    // --generate ...` or `--keep-data`), CPU per follower, in seconds instead of minutes.
    const nodeLocal = await runNodeLocal(o, o.nodeLocalOnly, 'celeb', ['topic20', 'topic60']);
    printResult({ bench: 'fanout', node_local: nodeLocal, nproc: availableParallelism(), node: process.version });
    return;
  }
  if (o.inProcessOnly) {
    const inProcess = await runInProcess(o.inProcessOnly, 'celeb', ['topic20', 'topic60'], o.allDeliveries);
    printResult({ bench: 'fanout', in_process: inProcess, nproc: availableParallelism(), node: process.version });
    return;
  }
  const idleLoad = await machineBusyBefore(log);
  const limits: RawLimits = await measureLimits(o.limitsMs, log);

  const dataDir = tempDataDir('fanout');
  let cluster: ClusterProcess | undefined;
  const sockets: WebSocket[] = [];
  try {
    // ---- 1. The graph.
    const graphArgs = [
      '--generate',
      '--celebrity',
      'celeb',
      '--celebrity-followers',
      String(o.followers),
      '--min-followings',
      String(o.minFollowings),
      '--avg-followings',
      String(o.avgFollowings),
      '--entities-per-user',
      String(o.entitiesPerUser),
      '--sample',
      String(o.sample),
    ];
    // --template DIR: the imported graph is kept there once and copied for later runs with the same graph options.
    const { made: imported, copied } = await fromTemplate(o.template, graphArgs.join(' '), dataDir, () => {
      log(`importing: celebrity with ${o.followers} followers, ${o.minFollowings}+ (avg ${o.avgFollowings}) friends each`);
      return runImport(['--data', dataDir, ...graphArgs]);
    });
    if (copied) log(`graph copied from the template ${o.template}`);
    const expected = imported.expected!;
    log(
      `imported ${imported.edges} edges (${imported.keys} keys) in ${imported.seconds}s (${imported.edges_per_s} edges/s); ` +
        `policy will choose ${expected.chosen} of ${expected.followers} (${(expected.fraction * 100).toFixed(1)}%): ${JSON.stringify(expected.reasons)}`,
    );

    // ---- 2. The cluster, subscribers, triggered load.
    // --profile DIR: V8 CPU profiles (bench/probe.ts), written in DIR at each second signal.
    const env: NodeJS.ProcessEnv = { HERALD_LOG_LEVEL: 'info', ...(o.profileDir ? new Probe('profile', o.profileDir).env() : {}) };
    const config = o.config ? ['--config', resolvePath(o.config)] : [];
    cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', ...config], { env, timeoutMs: 60_000 });
    log(`cluster up: gateway pid ${cluster.pid}, nodes ${JSON.stringify(cluster.info.nodes)}`);
    const procs = new ProcessSampler({ gateway: cluster.pid, ...cluster.info.nodes, bench: process.pid });
    const result = await runFanout(o, cluster, dataDir, sockets, expected, procs);
    const peakRss = procs.stop();
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    const code = await cluster.stop();
    cluster = undefined;
    log(`cluster stopped (exit ${code})`);

    // ---- 4. Baseline: one request/response per follower.
    const baseline = await runBaseline(o, dataDir, expected.author, expected.entities);
    // ---- 5. One node's decisions in this process: CPU per follower, whatever else the machine runs.
    const nodeLocal = await runNodeLocal(o, dataDir, expected.author, expected.entities);
    const heraldRate = result.decided_per_s;
    const line = {
      bench: 'fanout',
      followers: expected.followers,
      decided: result.decided,
      decided_per_s: heraldRate,
      publish_to_done_s: result.publish_to_done_s,
      fanout_job_s: result.fanout_job_s,
      chosen: result.chosen,
      expected_chosen: expected.chosen,
      chosen_fraction: round(result.chosen / Math.max(1, result.decided), 4),
      chosen_reasons_expected: expected.reasons,
      triggered_p50_ms: result.triggered_during.p50_ms,
      triggered_p99_ms: result.triggered_during.p99_ms,
      baseline_followers_per_s: baseline.followers_per_s,
      ratio_herald_vs_baseline: round(heraldRate / baseline.followers_per_s, 1),
      floors: {
        // 1M followers decided and written in 10 s: 100k/s, whatever --followers is.
        done_s_for_1m: FLOOR_DONE_S,
        triggered_p99_ms: FLOOR_P99_MS,
        done_met: result.publish_to_done_s !== null && result.decided >= expected.followers && heraldRate >= 1_000_000 / FLOOR_DONE_S,
        p99_met: result.triggered_during.p99_ms !== null && result.triggered_during.p99_ms <= FLOOR_P99_MS && result.triggered_during.missing === 0,
      },
      peak_rss_mb: peakRss,
      ...result.rest,
      triggered_during: result.triggered_during,
      triggered_before: result.triggered_before,
      baseline,
      node_local: nodeLocal,
      import: {
        seconds: imported.seconds,
        edges: imported.edges,
        keys: imported.keys,
        edges_per_s: imported.edges_per_s,
        keys_per_s: imported.keys_per_s,
        keys_per_node: imported.keys_per_node,
        generate: imported.generate,
      },
      ...limits,
      nodes: imported.nodes,
      machine_busy_cores_before: round(idleLoad),
      nproc: availableParallelism(),
      node: process.version,
      bench_seconds: round((performance.now() - started) / 1000, 1),
    };
    printResult(line);
  } catch (err) {
    logClusterTail(cluster, log);
    throw err;
  } finally {
    for (const ws of sockets) ws.terminate();
    if (cluster) log(`cluster stopped (exit ${await cluster.stop()})`);
    dropDataDir(dataDir, o.keepData, log);
  }
}

type Stats = {
  nodes: Array<{
    nodeId: string;
    pid?: number;
    fanoutDecided?: number;
    fanoutNotified?: number;
    fanout?: { active: string; jobs: number; followers: number };
    error?: string;
  }>;
  liveness?: unknown;
};

/** The author node's fanout log lines for one event (cluster log, info level): progress and done. */
function fanoutLog(logs: string, eventId: string): { done?: { followers: number; ms: number }; progress: number } {
  let progress = 0;
  let done: { followers: number; ms: number } | undefined;
  for (const line of logs.split('\n')) {
    if (!line.includes('"fanout ') || !line.includes(`"event":"${eventId}"`)) continue;
    try {
      const l = JSON.parse(line) as { msg: string; done?: number; followers?: number; ms?: number };
      if (l.msg === 'fanout progress') progress = Math.max(progress, l.done ?? 0);
      if (l.msg === 'fanout done') done = { followers: l.followers ?? 0, ms: l.ms ?? NaN };
    } catch {
      /* a line cut by the log buffer */
    }
  }
  return { done, progress: Math.max(progress, done?.followers ?? 0) };
}

async function runFanout(
  o: Options,
  cluster: ClusterProcess,
  dataDir: string,
  sockets: WebSocket[],
  expected: NonNullable<ImportResult['expected']>,
  procs: ProcessSampler,
) {
  const auth = Auth.fromDataDir(dataDir);
  const url = cluster.info.ws;
  const admin = auth.sign('bench-admin', 'admin', 3600);
  const stats = async (): Promise<Stats> => {
    const res = await fetch(`${cluster.info.http}/v1/admin/stats`, { headers: { authorization: `Bearer ${admin}` } });
    return (await res.json()) as Stats;
  };

  // Triggered recipients: every delivery of a like is a latency sample (intended send time -> now).
  const recipients = Array.from({ length: o.recipients }, (_, i) => `r-${i}`);
  const samples: number[] = []; // [intended ms, latency ms] pairs, flat
  let delivered = 0;
  const subscriberState = new Subscribers(undefined, sockets);
  const subscribe = (user: string, onNotification: (n: Notification) => void) =>
    subscriberState.one(url, user, auth.sign(user, 'user', 3600), log, onNotification);
  for (const r of recipients) {
    await subscribe(r, (n) => {
      // Likes of one tweet aggregate into one entry: the newest event id is the last one.
      const intended = intendedOf(n.eventIds[n.eventIds.length - 1] ?? '');
      if (intended === undefined) return;
      samples.push(intended, performance.now() - intended);
      delivered++;
    });
  }
  // Chosen followers (per node) must get the tweet live; not-chosen ones must not.
  const tweetId = 'celeb-tw-1';
  const live = new Map<UserId, number>();
  let notChosenDelivered = 0;
  let tPublish = NaN;
  const chosenSubs = Object.values(expected.chosen_sample).flat();
  const notChosenSubs = Object.values(expected.not_chosen_sample).flat();
  for (const f of chosenSubs) await subscribe(f, (n) => n.tweetId === tweetId && !live.has(f) && live.set(f, performance.now() - tPublish));
  for (const f of notChosenSubs) await subscribe(f, (n) => n.tweetId === tweetId && notChosenDelivered++);
  log(`${recipients.length} recipients, ${chosenSubs.length} chosen and ${notChosenSubs.length} not-chosen followers subscribed`);

  // Producers: open-loop like load, one frame every frameEvents/rate s, intended send time in each event id.
  const errors: Record<string, number> = {};
  const pending = new Map<string, (m: Msg) => void>();
  const producers: GatewayClient[] = [];
  for (let p = 0; p < o.producers; p++) {
    const client = await GatewayClient.connect(url, auth.sign(`producer-${p}`, 'producer', 3600), (m) => {
      const done = m.id !== undefined ? pending.get(m.id) : undefined;
      if (done) {
        pending.delete(m.id!);
        done(m);
      }
      if (m.op === 'error') errors[m.code ?? '?'] = (errors[m.code ?? '?'] ?? 0) + 1;
    });
    producers.push(client);
    sockets.push(client.ws);
  }
  let publishSeq = 0;
  let sent = 0;
  let maxLagMs = 0;
  let loadOn = true;
  const intervalMs = (1000 * o.frameEvents) / o.rate;
  const t0 = performance.now() + 20;
  const loadDone = new Promise<void>((resolve) => {
    let k = 0;
    const tick = () => {
      const now = performance.now();
      while (loadOn && t0 + k * intervalMs <= now) {
        const intended = t0 + k * intervalMs;
        maxLagMs = Math.max(maxLagMs, now - intended);
        const intendedUs = Math.round(intended * 1000);
        const events = [];
        for (let i = 0; i < o.frameEvents; i++) {
          const seq = sent++;
          const r = recipients[seq % recipients.length];
          // ~10 likes per tweet, then the recipient's next tweet: aggregates stay small.
          const tweet = `tw-${r}-${Math.floor(seq / (recipients.length * 10))}`;
          events.push({ id: `L${seq}.${intendedUs}`, type: 'like', actor: `fan-${(seq * 7919) % 5000}`, tweet: { id: tweet, author: r, text: 'b' } });
        }
        const id = `p${publishSeq++}`;
        pending.set(id, () => undefined);
        producers[k % producers.length].send({ op: 'publish', id, events });
        k++;
      }
      if (!loadOn) return resolve();
      setTimeout(tick, Math.max(0, t0 + k * intervalMs - performance.now()));
    };
    setTimeout(tick, 20);
  });
  log(`triggered load: ${o.rate} likes/s (${o.frameEvents}-event frames every ${intervalMs.toFixed(2)} ms); warmup ${o.warmupS}s`);
  const clusterCpu = () => procs.clusterCpu();
  // The second half of the warmup: what the triggered load alone costs the cluster, per like.
  await sleep((o.warmupS * 1000) / 2);
  const profiled = [cluster.pid, ...Object.values(cluster.info.nodes)];
  const probe = () => Probe.signal(profiled);
  if (o.profileDir && o.profileWarmup) probe();
  const warm0 = { cpu: clusterCpu(), sent, t: performance.now() };
  const cpuWarm = cpuMeterOf(() => procs.cpu());
  await sleep((o.warmupS * 1000) / 2);
  const cpuWarmup = cpuWarm();
  if (o.profileDir && o.profileWarmup) {
    probe();
    log(`CPU profiles of the warmup (triggered load alone) written to ${o.profileDir}`);
  }
  const cpuPerLikeUs = ((clusterCpu() - warm0.cpu) / Math.max(1, sent - warm0.sent)) * 1e6;
  log(`warmup: cluster CPU ${Math.round(cpuPerLikeUs)} us per like; cpu ${JSON.stringify(cpuWarmup)}`);

  // ---- 3. The celebrity's tweet.
  const before = await stats();
  const decidedBefore = before.nodes.reduce((a, n) => a + (n.fanoutDecided ?? 0), 0);
  const notifiedBefore = before.nodes.reduce((a, n) => a + (n.fanoutNotified ?? 0), 0);
  if (o.profileDir && !o.profileWarmup) probe();
  const cpu = cpuMeterOf(() => procs.cpu());
  const fan0 = { cpu: clusterCpu(), sent };
  tPublish = performance.now();
  let ackMs = NaN;
  const acked = new Promise<void>((resolve) => {
    pending.set('tweet', (m) => {
      ackMs = performance.now() - tPublish;
      if (m.op !== 'ack') log(`tweet publish answered ${m.op} ${m.code ?? ''} ${m.message ?? ''}`);
      resolve();
    });
  });
  producers[0].send({
    op: 'publish',
    id: 'tweet',
    events: [
      {
        id: 'celeb-tweet-1',
        type: 'tweet',
        actor: expected.author,
        tweet: { id: tweetId, author: expected.author, text: 'a big announcement', entities: expected.entities },
      },
    ],
  });
  await acked;
  log(`tweet acked in ${ackMs.toFixed(1)} ms`);

  // Poll until the author's node logs the job done (every follower decided, every chosen notification written).
  // Counters of a node restart from 0 if it is respawned: the job's own count (its log lines) is the truth.
  let decided = 0;
  let notified = 0;
  let tDone = NaN;
  let doneLine: { followers: number; ms: number } | undefined;
  const deadline = tPublish + o.timeoutS * 1000;
  let lastLog = tPublish;
  const series: Array<[number, number]> = [];
  let liveness: unknown;
  for (;;) {
    let s: Stats | undefined;
    try {
      s = await stats();
    } catch (err) {
      log(`stats failed: ${(err as Error).message}`);
    }
    const now = performance.now();
    const job = fanoutLog(cluster.logs, 'celeb-tweet-1');
    if (s) {
      for (const n of s.nodes) procs.track(n.nodeId, n.pid);
      liveness = s.liveness;
      notified = Math.max(notified, s.nodes.reduce((a, n) => a + (n.fanoutNotified ?? 0), 0) - notifiedBefore);
      decided = Math.max(decided, job.progress, s.nodes.reduce((a, n) => a + (n.fanoutDecided ?? 0), 0) - decidedBefore);
    }
    series.push([round((now - tPublish) / 1000, 2)!, decided]);
    if (job.done) {
      tDone = now;
      doneLine = job.done;
      decided = job.done.followers;
      break;
    }
    if (now - lastLog >= 2000) {
      lastLog = now;
      log(
        `  ${((now - tPublish) / 1000).toFixed(1)}s: decided ${decided}, notified ${notified}, live ${live.size}/${chosenSubs.length}, triggered delivered ${delivered}${Object.keys(procs.restarts()).length ? `, respawned ${JSON.stringify(procs.restarts())}` : ''}`,
      );
    }
    if (now > deadline) {
      log(`fanout not done after ${o.timeoutS}s`);
      break;
    }
    await sleep(100);
  }
  // The notified counters are per node process: a final read (a respawned node's count restarted at 0).
  try {
    const s = await stats();
    notified = Math.max(notified, s.nodes.reduce((a, n) => a + (n.fanoutNotified ?? 0), 0) - notifiedBefore);
    liveness = s.liveness;
  } catch {
    /* keep the last figure */
  }
  const cpuDuring = cpu();
  // Cluster CPU during the fanout window (the likes sent meanwhile included).
  const windowCpuS = clusterCpu() - fan0.cpu;
  if (o.profileDir && !o.profileWarmup) {
    probe();
    log(`CPU profiles of the fanout written to ${o.profileDir} (node dist/bench/profileSummary.js FILE)`);
  }
  // One more second of load after the fanout, then drain.
  await sleep(1000);
  loadOn = false;
  await loadDone;
  const drainUntil = performance.now() + 5000;
  while (delivered < sent && performance.now() < drainUntil) await sleep(20);
  await sleep(200);

  const done = Number.isFinite(tDone);
  const end = done ? tDone : performance.now();
  const during = new LatencyRecorder();
  const beforeRec = new LatencyRecorder();
  for (let i = 0; i < samples.length; i += 2) {
    const intended = samples[i];
    if (intended >= tPublish && intended <= end) during.record(samples[i + 1]);
    else if (intended < tPublish) beforeRec.record(samples[i + 1]);
  }
  // Events intended during the fanout that never arrived count against it.
  const firstSeq = Math.ceil((tPublish - t0) / intervalMs) * o.frameEvents;
  const lastSeq = Math.floor((end - t0) / intervalMs) * o.frameEvents + o.frameEvents;
  const offeredDuring = Math.max(0, lastSeq - firstSeq);
  const liveTimes = [...live.values()].sort((a, b) => a - b);
  const liveByNode = Object.fromEntries(
    Object.entries(expected.chosen_sample).map(([node, us]) => [node, `${us.filter((u) => live.has(u)).length}/${us.length}`]),
  );
  const publishToDone = done ? (tDone - tPublish) / 1000 : NaN;
  const pct = (r: LatencyRecorder, p: number) => round(r.percentile(p));
  log(
    `fanout: ${decided} decided, ${notified} notified in ${publishToDone.toFixed(2)}s (${Math.round(decided / publishToDone)}/s); live ${JSON.stringify(liveByNode)}; triggered during p50 ${pct(during, 50)} p99 ${pct(during, 99)} ms (${during.count} samples); cpu ${JSON.stringify(cpuDuring)}`,
  );
  return {
    decided,
    chosen: notified,
    decided_per_s: done ? Math.round(decided / publishToDone) : 0,
    publish_to_done_s: round(publishToDone),
    fanout_job_s: doneLine ? round(doneLine.ms / 1000) : null,
    triggered_during: {
      p50_ms: pct(during, 50),
      p99_ms: pct(during, 99),
      p999_ms: pct(during, 99.9),
      max_ms: round(during.max),
      samples: during.count,
      offered: offeredDuring,
      missing: Math.max(0, offeredDuring - during.count),
    },
    triggered_before: { p50_ms: pct(beforeRec, 50), p99_ms: pct(beforeRec, 99), samples: beforeRec.count },
    rest: {
      notified_per_s: done ? Math.round(notified / publishToDone) : 0,
      tweet_ack_ms: round(ackMs),
      live_chosen_delivered: `${live.size}/${chosenSubs.length}`,
      live_chosen_by_node: liveByNode,
      live_first_ms: round(liveTimes[0] ?? NaN, 0),
      live_last_ms: round(liveTimes[liveTimes.length - 1] ?? NaN, 0),
      live_not_chosen_delivered: notChosenDelivered,
      cpu_cores_during: cpuDuring,
      cpu_cores_warmup: cpuWarmup,
      node_respawns: procs.restarts(),
      cluster_warnings: clusterWarnings(cluster.logs),
      liveness_kills: liveness,
      cluster_cpu_us_per_like_warmup: Math.round(cpuPerLikeUs),
      cluster_cpu_s_during: round(windowCpuS, 1),
      likes_sent_during: sent - fan0.sent,
      triggered_offered_per_s: o.rate,
      triggered_sender_max_lag_ms: round(maxLagMs),
      triggered_sent: sent,
      triggered_delivered: delivered,
      triggered_errors: errors,
      subscriber_gaps: subscriberState.gaps,
      subscriber_closes: subscriberState.closes,
      subscriber_errors: subscriberState.errors,
      decided_series: series.filter((_, i) => i % 5 === 0 || i === series.length - 1),
    },
  };
}

/**
 * The "no co-location" baseline: the author's side asks each follower's owner for the follower's profile, one
 * request/response per follower (bench-only node op `profileOf`), and decides itself. This process is the
 * comedy root of the three node processes on the (stopped) cluster's data, exactly as the gateway is: the calls
 * travel the transport node calls travel in herald (cluster/NodeRef over its direct link, as node → node calls do). It decides
 * only: the chosen notifications are not written (herald's figure includes writing them).
 */
async function runBaseline(o: Options, dataDir: string, author: UserId, entities: string[]) {
  const table = ShardTable.load(join(dataDir, 'cluster.json'))!;
  const config = loadConfig({ dataDir });
  const quiet = createLogger('bench', 'warn');
  const runtime = await ActorRuntime.start({ callTimeoutMs: 30_000, linkMaxFrame: config.linkMaxFrame }, quiet, {
    fromNode: () => undefined,
    onNewProcess: () => undefined,
  });
  const refs = new Map<string, NodeRef>();
  try {
    for (const spec of table.data.nodes) {
      refs.set(spec.id, await runtime.spawn(spec, { ...nodeParamsOf(config, spec.id, table.shardCount), benchOps: true }));
    }
    // A seeded sample of the followers (u0..u<N-1> all follow the celebrity).
    let x = 12345;
    const sample = Array.from({ length: Math.min(o.baselineSample, o.followers) }, () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return `u${x % o.followers}`;
    });
    const rtt = new LatencyRecorder();
    let chosen = 0;
    let next = 0;
    const now = Date.now();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.baselineConcurrency }, async () => {
        while (next < sample.length) {
          const f = sample[next++];
          const ref = refs.get(table.ownerOf(shardOf(f, table.shardCount)))!;
          const t = performance.now();
          const data = await ref.callBench('profileOf', { user: f });
          rtt.record(performance.now() - t);
          if (decide(new InterestProfile(data ?? { top: [], ent: [] }, DEFAULT_PROFILE), author, entities, now, DEFAULT_POLICY).notify) chosen++;
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const out = {
      method: 'one profileOf request/response per follower to its owner over its link (NodeRef), decision at the caller; no writes',
      sample: sample.length,
      concurrency: o.baselineConcurrency,
      seconds: round(secs),
      followers_per_s: Math.round(sample.length / secs),
      rtt_p50_ms: round(rtt.percentile(50)),
      rtt_p99_ms: round(rtt.percentile(99)),
      chosen_in_sample: chosen,
      projected_1m_s: round((1_000_000 / sample.length) * secs, 1),
    };
    log(
      `baseline: ${out.followers_per_s} followers/s (${sample.length} in ${out.seconds}s, ${o.baselineConcurrency} in flight; rtt p50 ${out.rtt_p50_ms} ms, p99 ${out.rtt_p99_ms} ms)`,
    );
    return out;
  } finally {
    await runtime.stop([...refs.values()].map((r) => r.pid));
  }
}

/**
 * The follower side alone, in this process: NodeActor.fanoutBatch of one node over its DB (the cluster stopped),
 * batches as the author node sends them, timed in CPU (user + sys of this process, all threads) and wall, with
 * the longest event-loop stall (what a triggered event on that node would wait behind). CPU per follower does
 * not depend on what else the machine runs: with 2 cores, 1M followers need at least 1M x cpu / 2.
 */
async function runNodeLocal(o: Options, dataDir: string, author: UserId, entities: string[]) {
  const table = ShardTable.load(join(dataDir, 'cluster.json'))!;
  const node = table.data.nodes[table.data.nodes.length - 1].id;
  const store = await NodeStore.open(join(dataDir, node), { syncWrites: true, writeBufferMb: loadConfig({}).writeBufferMb });
  const actor = new NodeActor(store, defaultNodeOptions(node, table.shardCount), createLogger('bench', 'warn'));
  actor.setTable(table.epoch, table.shardsOf(node), table.owners);
  try {
    // Followers this node owns, from a part of the id range the cluster's fanout reached last (colder).
    const followers: UserId[] = [];
    const shards: number[] = [];
    for (let i = o.followers - 1; i >= 0 && followers.length < Math.min(o.nodeLocal, o.followers); i--) {
      const shard = shardOf(`u${i}`, table.shardCount);
      if (table.ownerOf(shard) !== node) continue;
      followers.push(`u${i}`);
      shards.push(shard);
    }
    const perBatch = Math.ceil(5000 / table.data.nodes.length);
    // A new tweet each run, so that a data dir measured again is decided and written again (not deduplicated).
    const id = `bench-node-local-${Date.now()}`;
    const event = { id, type: 'tweet' as const, actor: author, ts: Date.now(), tweet: { id: `${id}-tw`, author, text: 'x', entities } };
    // Opening the DB replays the stopped cluster's write-ahead log into a level-0 table and compacts it: a cost
    // of the restart, not of the fanout. A first batch (another tweet) warms the code; then LevelDB settles.
    const warm = Math.min(perBatch, followers.length);
    await actor.fanoutBatch({ epoch: table.epoch, event: { ...event, id: `${id}-warm` }, followers: followers.slice(0, warm), shards: shards.slice(0, warm) });
    await sleep(2000);
    let stall = 0;
    let last = performance.now();
    const loop = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - last - 1);
      last = now;
    }, 1);
    const c0 = process.cpuUsage();
    const main0 = mainThreadCpuUs();
    const t0 = performance.now();
    let notified = 0;
    for (let i = warm; i < followers.length; i += perBatch) {
      notified += (await actor.fanoutBatch({ epoch: table.epoch, event, followers: followers.slice(i, i + perBatch), shards: shards.slice(i, i + perBatch) }))
        .notified;
    }
    const c = process.cpuUsage(c0);
    const mainUs = mainThreadCpuUs() - main0;
    const wall = performance.now() - t0;
    clearInterval(loop);
    const measured = Math.max(1, followers.length - warm);
    const cpuUs = (c.user + c.system) / measured;
    const out = {
      node,
      followers: measured,
      notified,
      batch: perBatch,
      cpu_us_per_follower: round(cpuUs, 1),
      // The event loop's thread; the rest is LevelDB (reads and writes on libuv threads, compaction), GC helpers.
      main_thread_cpu_us_per_follower: round(mainUs / measured, 1),
      other_threads_cpu_us_per_follower: round(cpuUs - mainUs / measured, 1),
      wall_us_per_follower: round((wall * 1000) / measured, 1),
      max_event_loop_stall_ms: round(stall, 0),
      cpu_s_for_1m_followers: round(cpuUs, 1),
      min_s_for_1m_on_2_cores: round(cpuUs / 2, 1),
    };
    log(
      `node-local: ${out.cpu_us_per_follower} us CPU per follower decided (main thread ${out.main_thread_cpu_us_per_follower}; ${notified} of ${measured} notified), longest event-loop stall ${out.max_event_loop_stall_ms} ms`,
    );
    return out;
  } finally {
    await actor.stop();
  }
}

/**
 * The whole fanout of one tweet in this process, no like load, no transport: every node of the (stopped) cluster's
 * data dir opened here, the author's FanoutRunner paging its followers and each batch handed to its node's
 * NodeActor.fanoutBatch, encoded and decoded as the node links do (msgpack), the deliveries encoded as for the
 * gateway. CPU per follower of everything the fanout itself costs (LevelDB threads included: one compaction thread
 * serves the three DBs here, each node process has its own), whatever share of the machine a cluster would give it.
 */
async function runInProcess(dataDir: string, author: UserId, entities: string[], allDeliveries = false) {
  const table = ShardTable.load(join(dataDir, 'cluster.json'))!;
  const logger = createLogger('bench', 'warn');
  const actors = new Map<string, NodeActor>();
  const peers = {
    call: async <T>(node: string, op: string, args: unknown): Promise<T> => {
      if (op !== 'fanoutBatch') throw new Error(`in-process fanout: no ${op}`);
      const res = await actors.get(node)!.fanoutBatch(unpack(pack(args)));
      pack(res.deliveries);
      return { decided: res.decided, notified: res.notified } as T;
    },
  };
  for (const { id } of table.data.nodes) {
    const store = await NodeStore.open(join(dataDir, id), { syncWrites: true, writeBufferMb: loadConfig({}).writeBufferMb });
    const actor = new NodeActor(store, defaultNodeOptions(id, table.shardCount), logger, peers, async (ds) => pack(ds));
    actor.setTable(table.epoch, table.shardsOf(id), table.owners);
    await actor.followers.prepare(logger);
    // As the gateway states it with nobody subscribed: no delivery goes on (--all-deliveries: all, as before).
    if (!allDeliveries) actor.updatePresence({ known: table.shardsOf(id) });
    actors.set(id, actor);
  }
  try {
    // Opening replays each DB's write-ahead log and compacts it: a cost of the restart, let it settle first.
    await sleep(2000);
    const owner = actors.get(table.ownerOf(shardOf(author, table.shardCount)))!;
    const id = `bench-in-process-${Date.now()}`;
    const event = { id, type: 'tweet' as const, actor: author, ts: Date.now(), tweet: { id: `${id}-tw`, author, text: 'x', entities } };
    const c0 = process.cpuUsage();
    const main0 = mainThreadCpuUs();
    const t0 = performance.now();
    // The job as the author's UserActor writes it with the tweet; the runner picks it up like after a restart.
    await owner.ingest({ epoch: table.epoch, items: [{ event, users: [author] }] });
    while (owner.fanout.progress.jobs === 0) await sleep(20);
    const c = process.cpuUsage(c0);
    const mainUs = mainThreadCpuUs() - main0;
    const wall = performance.now() - t0;
    const { followers, notified } = owner.fanout.progress;
    const cpuUs = (c.user + c.system) / Math.max(1, followers);
    const out = {
      followers,
      notified,
      cpu_us_per_follower: round(cpuUs, 1),
      main_thread_cpu_us_per_follower: round(mainUs / Math.max(1, followers), 1),
      other_threads_cpu_us_per_follower: round(cpuUs - mainUs / Math.max(1, followers), 1),
      wall_s: round(wall / 1000, 1),
      followers_per_s: Math.round(followers / (wall / 1000)),
      min_s_for_1m_on_2_cores: round(cpuUs / 2, 1),
    };
    log(`in-process: ${out.cpu_us_per_follower} us CPU per follower (main thread ${out.main_thread_cpu_us_per_follower}), ${followers} in ${out.wall_s}s`);
    return out;
  } finally {
    for (const a of actors.values()) await a.stop();
  }
}

// Allows `node dist/bench/fanout.js [options]` while bench/run.ts does not list it yet.
runIfEntry(module, main);
