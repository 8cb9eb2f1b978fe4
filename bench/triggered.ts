import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { Auth } from '../gateway/Auth';
import { ClusterProcess } from '../scripts/ClusterProcess';
import { parseOptions } from './harness/args';
import { logClusterTail } from './harness/clusterLogs';
import { dropDataDir, tempDataDir } from './harness/dataDir';
import { GatewayClient } from './harness/GatewayClient';
import { LatencyRecorder } from './harness/LatencyRecorder';
import { machineBusyBefore } from './harness/machine';
import { printResult, progressLog } from './harness/main';
import { Probe } from './harness/Probe';
import { round } from './harness/round';
import { clusterCpuMeter } from './harness/sampler';
import { sleep } from './harness/sleep';
import { intendedOf, seqOf, timedId } from './harness/timedId';
import { measureLimits, type RawLimits } from './limits';

/**
 * `npm run bench -- triggered [--no-sync]`: triggered notifications end to end on a real 3-node cluster.
 *
 *  - limits:     raw LevelDB chained-batch rate (with and without sync) and raw WebSocket message rate, measured
 *                first, before the cluster exists, so they do not compete with it for the cores.
 *  - phase 1:    producers publish `like` events (batches of --batch) with --inflight publishes in flight per
 *                socket, for --warmup s (not measured: actors activate from LevelDB, key sets load, code warms up)
 *                then --duration s, the window. An event counts once its publish was acked AND its notification
 *                reached the subscribed recipient; events_per_s is the events complete within the window / its length.
 *  - phase 2:    an open-loop producer offers --rate events/s on a fixed timeline (one frame every
 *                --frame-events/--rate s). Every event carries its frame's INTENDED send time in its id, and latency
 *                is measured at the subscriber from that time, so a stalled sender or server cannot hide its own
 *                delay (no coordinated omission). An event never delivered is reported as missing.
 *
 * Progress goes to stderr; the last stdout line is one JSON object with every figure (docs/benchmarks.md).
 */

const FLOOR_EVENTS_PER_S = 20_000;
const FLOOR_P99_MS = 25;

interface Options {
  sync: boolean;
  recipients: number;
  fans: number;
  tweets: number;
  producers: number;
  batch: number;
  inflight: number;
  durationS: number;
  /** Seconds of phase-1 load before its window opens: actors activate from LevelDB, key sets load, code warms up. */
  warmupS: number;
  rate: number;
  latencyS: number;
  /** Seconds at the offered rate before phase 2's window opens: the cluster settles from phase 1's saturation. */
  latencyWarmupS: number;
  frameEvents: number;
  limitsMs: number;
  profileDir?: string;
  stagesDir?: string;
  /** Per-process time series (250 ms rows: loop delay, pool round trip, CPU, level-0 files, slowest fsync, GC). */
  traceDir?: string;
  keepData: boolean;
  /** Writes phase 2's latencies, one CSV row per event, to this file (to line bursts up with logs). */
  seriesFile?: string;
  /** A cluster config file (core/config.ts options) passed to the cluster script. */
  config?: string;
  /** The phase `--profile`/`--stages` observe. @defaultValue 1 */
  probePhase: 1 | 2;
}

const USAGE = `Usage: npm run bench -- triggered [--no-sync] [--recipients N] [--fans N] [--tweets N] [--producers N]
  [--batch N] [--inflight N] [--duration S] [--warmup S] [--rate N] [--latency-duration S] [--latency-warmup S] [--frame-events N] [--limits-ms MS]
  [--profile DIR | --stages DIR | --trace DIR] [--keep-data] [--series FILE] [--config FILE] [--probe-phase 1|2]          (docs/benchmarks.md)`;

/** Every count and duration must be above 0; `tweets`, `warmup` and `latency-warmup` may be 0 (none). */
const OPTIONS = {
  'no-sync': { type: 'boolean' },
  recipients: { type: 'number', default: 200, above: 0 },
  fans: { type: 'number', default: 2000, above: 0 },
  tweets: { type: 'number', default: 0, min: 0 },
  producers: { type: 'number', default: 4, above: 0 },
  batch: { type: 'number', default: 100, above: 0 },
  inflight: { type: 'number', default: 4, above: 0 },
  duration: { type: 'number', default: 8, above: 0 },
  warmup: { type: 'number', default: 2, min: 0 },
  rate: { type: 'number', default: 5000, above: 0 },
  'latency-duration': { type: 'number', default: 8, above: 0 },
  'latency-warmup': { type: 'number', default: 2, min: 0 },
  'frame-events': { type: 'number', default: 10, above: 0 },
  'limits-ms': { type: 'number', default: 1500, above: 0 },
  profile: { type: 'string' },
  stages: { type: 'string' },
  trace: { type: 'string' },
  'keep-data': { type: 'boolean' },
  series: { type: 'string' },
  config: { type: 'string' },
  'probe-phase': { type: 'string', default: '1', choices: ['1', '2'] },
} as const;

function options(args: string[]): Options {
  const { values } = parseOptions(args, OPTIONS, { usage: USAGE });
  return {
    sync: !values['no-sync'],
    recipients: values.recipients,
    fans: values.fans,
    tweets: values.tweets,
    producers: values.producers,
    batch: values.batch,
    inflight: values.inflight,
    durationS: values.duration,
    warmupS: values.warmup,
    rate: values.rate,
    latencyS: values['latency-duration'],
    latencyWarmupS: values['latency-warmup'],
    frameEvents: values['frame-events'],
    limitsMs: values['limits-ms'],
    profileDir: values.profile,
    stagesDir: values.stages,
    traceDir: values.trace,
    keepData: values['keep-data'],
    seriesFile: values.series,
    config: values.config,
    probePhase: values['probe-phase'] === '2' ? 2 : 1,
  };
}

const log = progressLog('triggered');
export async function main(args: string[]): Promise<void> {
  const o = options(args);
  // A path that cannot be written fails now, not after the run (the rows are written after phase 2).
  if (o.seriesFile) writeFileSync(o.seriesFile, '');
  log(`options ${JSON.stringify(o)}`);
  const idleLoad = await machineBusyBefore(log);
  const limits: RawLimits = await measureLimits(o.limitsMs, log);

  const dataDir = tempDataDir('bench');
  let cluster: ClusterProcess | undefined;
  const sockets: WebSocket[] = [];
  try {
    const clusterArgs = [
      '--data',
      dataDir,
      '--port',
      '0',
      '--nodes',
      '3',
      ...(o.sync ? [] : ['--no-sync']),
      ...(o.config ? ['--config', resolvePath(o.config)] : []),
    ];
    cluster = await ClusterProcess.start(clusterArgs, { env: Probe.from(o.profileDir, o.stagesDir, o.traceDir)?.env() });
    log(`cluster up: ${cluster.info.ws}, gateway pid ${cluster.pid}, nodes ${JSON.stringify(cluster.info.nodes)}, sync=${o.sync}`);
    const { events_per_s: events, p50_ms, p99_ms, p999_ms, ...rest } = await runPhases(o, cluster, dataDir, sockets);
    const leveldbBasis = o.sync ? limits.raw_leveldb_sync_batch_ops_per_s : limits.raw_leveldb_batch_ops_per_s;
    const line = {
      bench: 'triggered',
      events_per_s: events,
      offered_per_s: o.rate,
      p50_ms,
      p99_ms,
      p999_ms,
      ...limits,
      ratio_vs_leveldb: round(events / leveldbBasis, 4),
      ratio_vs_leveldb_basis: o.sync ? 'raw_leveldb_sync_batch_ops_per_s' : 'raw_leveldb_batch_ops_per_s',
      ratio_vs_ws: round(events / limits.raw_ws_msgs_per_s, 4),
      // p99 as a multiple of the disk's own p99 for one fsynced write with 3 databases writing (synced runs only).
      ratio_p99_vs_raw_sync_write: o.sync && p99_ms !== null ? round(p99_ms / limits.raw_leveldb_sync_write_p99_ms, 2) : null,
      sync_writes: o.sync,
      floors: {
        events_per_s: FLOOR_EVENTS_PER_S,
        p99_ms: FLOOR_P99_MS,
        events_met: events >= FLOOR_EVENTS_PER_S,
        p99_met: p99_ms !== null && p99_ms <= FLOOR_P99_MS && rest.latency_missing === 0,
      },
      ...rest,
      nodes: 3,
      recipients: o.recipients,
      tweets_per_recipient: o.tweets || 'one per like (no aggregation)',
      producers: o.producers,
      batch: o.batch,
      inflight_per_producer: o.inflight,
      frame_events: o.frameEvents,
      machine_busy_cores_before: round(idleLoad),
      nproc: availableParallelism(),
      node: process.version,
    };
    printResult(line);
  } catch (err) {
    logClusterTail(cluster, log);
    throw err;
  } finally {
    for (const ws of sockets) ws.terminate();
    if (cluster) {
      const code = await cluster.stop();
      log(`cluster stopped (exit ${code})`);
    }
    dropDataDir(dataDir, o.keepData, log);
  }
}

async function runPhases(o: Options, cluster: ClusterProcess, dataDir: string, sockets: WebSocket[]) {
  const auth = Auth.fromDataDir(dataDir);
  const url = cluster.info.ws;
  const recipients = Array.from({ length: o.recipients }, (_, i) => `r-${i}`);
  const fans = Array.from({ length: o.fans }, (_, i) => `fan-${i}`);

  // Phase-1 bookkeeping: per event seq, bit 1 = acked, bit 2 = delivered; complete at 3.
  const ACKED = 1;
  const DELIVERED = 2;
  const flags = new Uint8Array(1 << 23);
  let complete = 0;
  let completeInWindow = 0;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let acked1 = 0;
  let delivered1 = 0;
  const mark = (seq: number, bit: number) => {
    const before = flags[seq];
    if (before & bit) return;
    flags[seq] = before | bit;
    if ((before | bit) === 3) {
      complete++;
      const now = performance.now();
      if (now >= windowStart && now <= windowEnd) completeInWindow++;
    }
  };

  // Phase-2 bookkeeping.
  const latency = new LatencyRecorder();
  const warmupLatency = new LatencyRecorder();
  const ackLatency = new LatencyRecorder();
  let delivered2 = 0;
  const warmupFrames = Math.round((o.rate * o.latencyWarmupS) / o.frameEvents);
  /** Phase-2 events before this one are the warm-up's: delivered and checked, not in the window's percentiles. */
  const measuredFrom = warmupFrames * o.frameEvents;
  const seen2 = new Uint8Array(Math.ceil(o.rate * (o.latencyWarmupS + o.latencyS)) + 1024);
  /** With --series: intended send time, latency (ms), per event delivered in phase 2. */
  const series = o.seriesFile ? ([] as number[]) : undefined;

  const subscriberState = { gaps: 0, closes: 0, errors: 0 };
  const errors: Record<string, number> = {};

  // Subscribers: one socket per recipient; offsets must arrive in order with no gap.
  const subscribed: Array<Promise<void>> = [];
  for (const user of recipients) {
    let last = -1;
    let ready!: () => void;
    subscribed.push(new Promise<void>((r) => (ready = r)));
    const client = await GatewayClient.connect(url, auth.sign(user, 'user', 3600), (m) => {
      if (m.op === 'notification') {
        const n = m.notification!;
        if (last >= 0 && n.offset !== last + 1) subscriberState.gaps++;
        last = n.offset;
        // An aggregated entry (likes of one tweet collapse into one, docs/protocol.md) names every event it holds,
        // oldest first: the ones not seen before are at the end. An event is delivered by the first entry naming it.
        const ids = n.eventIds;
        const now = performance.now();
        for (let i = ids.length - 1; i >= 0; i--) {
          const id = ids[i];
          if (id.charCodeAt(0) === 84 /* T */) {
            const seq = Number(id.slice(1));
            if (flags[seq] & DELIVERED) break;
            delivered1++;
            mark(seq, DELIVERED);
          } else {
            // L<seq>.<intended send time, µs on this process's performance clock> (harness/timedId)
            const seq = seqOf(id);
            if (seen2[seq]) break;
            seen2[seq] = 1;
            const intended = intendedOf(id) ?? NaN;
            if (seq < measuredFrom) warmupLatency.record(now - intended);
            else {
              latency.record(now - intended);
              series?.push(intended, now - intended);
            }
            delivered2++;
          }
        }
      } else if (m.op === 'subscribed') {
        last = m.offset!;
        ready();
      } else if (m.op === 'error') {
        subscriberState.errors++;
        log(`subscriber ${user} error: ${m.code} ${m.message}`);
      }
    });
    client.ws.on('close', () => subscriberState.closes++);
    sockets.push(client.ws);
    client.send({ op: 'subscribe' });
  }
  await Promise.all(subscribed);
  log(`${recipients.length} subscribers subscribed`);

  // Producers.
  type Pending = { phase: 1 | 2; first: number; count: number; intended: number; producer: number };
  const pending = new Map<string, Pending>();
  let publishSeq = 0;
  let phase1Running = false;
  const producers: GatewayClient[] = [];
  let sendPhase1: (p: number) => void = () => undefined;
  // The gateway limits each socket to rateLimitPerSec messages/s (default 200): phase 2 spreads its frames over
  // enough sockets to stay at <= 100 frames/s each.
  const producerSockets = Math.max(o.producers, Math.ceil(o.rate / o.frameEvents / 100));
  for (let p = 0; p < producerSockets; p++) {
    const client = await GatewayClient.connect(url, auth.sign(`producer-${p}`, 'producer', 3600), (m) => {
      let pub = m.id !== undefined ? pending.get(m.id) : undefined;
      if (pub) pending.delete(m.id!);
      else if (m.op === 'error') {
        // Refused before the gateway read the frame's id (HERALD_RATE_LIMITED is): take this socket's oldest
        // publish as the refused one, so the in-flight window and the drain stay right.
        for (const [id, q] of pending) {
          if (q.producer === p) {
            pending.delete(id);
            pub = q;
            break;
          }
        }
        errors[m.code ?? '?'] = (errors[m.code ?? '?'] ?? 0) + 1;
        if (pub?.phase === 1 && phase1Running) sendPhase1(pub.producer);
        return;
      }
      if (!pub) return;
      if (m.op === 'ack') {
        if (pub.phase === 1) {
          acked1 += pub.count;
          for (let s = pub.first; s < pub.first + pub.count; s++) mark(s, ACKED);
        } else {
          const ms = performance.now() - pub.intended;
          if (pub.first >= measuredFrom) for (let i = 0; i < pub.count; i++) ackLatency.record(ms);
        }
      } else {
        errors[m.code ?? '?'] = (errors[m.code ?? '?'] ?? 0) + 1;
      }
      if (pub.phase === 1 && phase1Running) sendPhase1(pub.producer);
    });
    producers.push(client);
    sockets.push(client.ws);
  }
  const fan = (seq: number, r: string) => {
    const f = fans[(seq * 7919) % fans.length];
    return f === r ? fans[(seq * 7919 + 1) % fans.length] : f;
  };
  const like = (id: string, seq: number, text: string) => {
    const r = recipients[seq % recipients.length];
    return {
      id,
      type: 'like',
      actor: fan(seq, r),
      tweet: { id: o.tweets > 0 ? `tw-${r}-${Math.floor(seq / recipients.length) % o.tweets}` : `tw-${id}`, author: r, text },
    };
  };

  log(`${producers.length} producer sockets connected`);

  // ---- Phase 1: throughput with bounded publishes in flight.
  let nextSeq = 0;
  sendPhase1 = (p: number) => {
    if (nextSeq + o.batch > flags.length) return;
    const first = nextSeq;
    const events = [];
    for (let i = 0; i < o.batch; i++) {
      const seq = nextSeq++;
      events.push(like(`T${seq}`, seq, 'b'));
    }
    const id = `p${publishSeq++}`;
    pending.set(id, { phase: 1, first, count: o.batch, intended: performance.now(), producer: p });
    producers[p].send({ op: 'publish', id, events });
  };
  log(`phase 1: ${o.producers} producers x ${o.inflight} publishes in flight x ${o.batch} events, ${o.warmupS}s of warm-up, then ${o.durationS}s measured`);
  const profiled = [cluster.pid, ...Object.values(cluster.info.nodes)];
  const probing = o.profileDir ?? o.stagesDir ?? o.traceDir;
  const probing1 = o.probePhase === 1 ? probing : undefined;
  const probing2 = o.probePhase === 2 ? probing : undefined;
  const t0 = performance.now();
  phase1Running = true;
  for (let p = 0; p < o.producers; p++) for (let k = 0; k < o.inflight; k++) sendPhase1(p);
  const progress = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    log(`  ${s.toFixed(1)}s: sent ${nextSeq}, acked ${acked1}, delivered ${delivered1}, complete ${complete} (${Math.round(complete / s)}/s since the start)`);
  }, 2000);
  // The window opens after the warm-up: events complete before it count for delivery checks, not for the rate.
  await sleep(o.warmupS * 1000);
  if (probing1) Probe.signal(profiled); // start the probes (bench/probe.ts)
  const cpu1 = clusterCpuMeter(cluster);
  windowStart = performance.now();
  windowEnd = windowStart + o.durationS * 1000;
  await sleep(o.durationS * 1000);
  phase1Running = false;
  clearInterval(progress);
  const cpuPhase1 = cpu1();
  if (probing1) {
    Probe.signal(profiled); // stop the probes; each writes its file
    log(`phase-1 ${o.profileDir ? 'CPU profiles' : 'stage timings'} written to ${probing}`);
  }
  const sent1 = nextSeq;
  // Drain: what is still in flight settles (bounded wait), so phase 2 starts from an idle cluster.
  const drainUntil = performance.now() + 5_000;
  while ((pending.size > 0 || delivered1 < acked1) && performance.now() < drainUntil) await sleep(20);
  const phase1 = {
    events_per_s: Math.round(completeInWindow / o.durationS),
    phase1_events_sent: sent1,
    phase1_events_acked: acked1,
    phase1_events_delivered: delivered1,
    phase1_events_complete: complete,
    phase1_not_delivered_after_drain: acked1 - delivered1,
    phase1_window_s: o.durationS,
    phase1_warmup_s: o.warmupS,
    cpu_cores_phase1: cpuPhase1,
    // CPU the cluster (gateway + nodes) spent per completed event: what caps throughput once the cores are full.
    cluster_cpu_us_per_event: round(
      ((['gateway', ...Object.keys(cluster.info.nodes)].reduce((a, k) => a + (cpuPhase1[k] ?? 0), 0) * o.durationS) / Math.max(1, completeInWindow)) * 1e6,
      0,
    ),
    bench_cpu_us_per_event: round((((cpuPhase1.bench ?? 0) * o.durationS) / Math.max(1, completeInWindow)) * 1e6, 0),
  };
  log(
    `phase 1: ${phase1.events_per_s} events/s complete (acked + delivered) in the window; after drain: acked ${acked1}, delivered ${delivered1}, complete ${complete}; cpu ${JSON.stringify(cpuPhase1)}`,
  );

  // ---- Phase 2: fixed offered rate, open loop, latency from the intended send time.
  const frames = warmupFrames + Math.round((o.rate * o.latencyS) / o.frameEvents);
  const intervalMs = (1000 * o.frameEvents) / o.rate;
  log(
    `phase 2: ${o.rate} events/s offered as ${o.frameEvents}-event frames every ${intervalMs.toFixed(2)} ms, ${o.latencyWarmupS}s of warm-up, then ${o.latencyS}s measured (${frames} frames)`,
  );
  let seq2 = 0;
  let maxLagMs = 0;
  let cpu2: ReturnType<typeof clusterCpuMeter> | undefined;
  const t2 = performance.now() + 20;
  await new Promise<void>((resolve) => {
    let k = 0;
    const tick = () => {
      const now = performance.now();
      while (k < frames && t2 + k * intervalMs <= now) {
        if (k === warmupFrames) {
          // The window opens: CPU and the probes count from here.
          if (probing2) Probe.signal(profiled);
          cpu2 = clusterCpuMeter(cluster);
        }
        const intended = t2 + k * intervalMs;
        maxLagMs = Math.max(maxLagMs, now - intended);
        const first = seq2;
        const events = [];
        for (let i = 0; i < o.frameEvents; i++) {
          const seq = seq2++;
          events.push(like(timedId(seq, intended), seq, 'b'));
        }
        const id = `p${publishSeq++}`;
        const p = k % producers.length;
        pending.set(id, { phase: 2, first, count: o.frameEvents, intended, producer: p });
        producers[p].send({ op: 'publish', id, events });
        k++;
      }
      if (k >= frames) return resolve();
      setTimeout(tick, Math.max(0, t2 + k * intervalMs - performance.now()));
    };
    setTimeout(tick, Math.max(0, t2 - performance.now()));
  });
  const sendSecs = (performance.now() - t2) / 1000;
  const drain2 = performance.now() + 5_000;
  while ((pending.size > 0 || delivered2 < seq2) && performance.now() < drain2) await sleep(10);
  const cpuPhase2 = cpu2!();
  if (series && o.seriesFile) {
    // Wall-clock times (ms since the epoch, UTC) so rows line up with other logs, e.g. LevelDB's LOG files.
    const rows = ['intended_unix_ms,latency_ms'];
    for (let i = 0; i < series.length; i += 2) rows.push(`${(performance.timeOrigin + series[i]).toFixed(3)},${series[i + 1].toFixed(3)}`);
    writeFileSync(o.seriesFile, rows.join('\n') + '\n');
    log(`phase-2 latencies written to ${o.seriesFile}`);
  }
  if (probing2) {
    Probe.signal(profiled);
    log(`phase-2 ${o.profileDir ? 'CPU profiles' : o.traceDir ? 'traces' : 'stage timings'} written to ${probing2}`);
  }
  const phase2 = {
    p50_ms: round(latency.percentile(50)),
    p99_ms: round(latency.percentile(99)),
    p999_ms: round(latency.percentile(99.9)),
    max_ms: round(latency.max),
    mean_ms: round(latency.mean),
    ack_p50_ms: round(ackLatency.percentile(50)),
    ack_p99_ms: round(ackLatency.percentile(99)),
    ack_p999_ms: round(ackLatency.percentile(99.9)),
    latency_events_offered: seq2 - measuredFrom,
    latency_samples: latency.count,
    // Missing counts the warm-up's events too: every event offered must be delivered.
    latency_missing: seq2 - delivered2,
    latency_warmup_s: o.latencyWarmupS,
    latency_warmup_p99_ms: round(warmupLatency.percentile(99)),
    achieved_offered_per_s: Math.round(seq2 / sendSecs),
    sender_max_lag_ms: round(maxLagMs),
    cpu_cores_phase2: cpuPhase2,
  };
  log(
    `phase 2: p50 ${phase2.p50_ms} ms, p99 ${phase2.p99_ms} ms, p99.9 ${phase2.p999_ms} ms, max ${phase2.max_ms} ms, missing ${phase2.latency_missing}; ack p99 ${phase2.ack_p99_ms} ms; cpu ${JSON.stringify(cpuPhase2)}`,
  );

  return {
    ...phase1,
    ...phase2,
    errors,
    pending_publishes_at_end: pending.size,
    subscriber_gaps: subscriberState.gaps,
    subscriber_closes: subscriberState.closes,
    subscriber_errors: subscriberState.errors,
  };
}
