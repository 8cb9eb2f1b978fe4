import { decode, encode } from '@msgpack/msgpack';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { HeraldEvent } from '../core/Event';
import { Auth } from '../gateway/Auth';
import { ClusterProcess } from '../scripts/ClusterProcess';
import { LatencyRecorder } from './LatencyRecorder';
import { measureLimits, type RawLimits } from './limits';
import { byLabel, histogramQuantile, parsePromText, sumOf, type PromSample } from './promText';
import { compareTimelineAppends, type RedisComparison } from './redis';
import { loadScenario, phaseStarts, rng, type Scenario } from './scenario';
import { clusterCpuMeter, hostLoad } from './cpu';
import { importGraph, parseImportArgs } from '../scripts/import';

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
 * Writes every figure and the per-second series to bench/report/spike-run.json (`npm run bench:report` draws
 * them) and prints ONE JSON line last on stdout. Progress goes to stderr.
 */

const log = (s: string) => process.stderr.write(`[spike] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

/** bench/report in the source tree (also when running from dist/). */
export function reportDir(): string {
  return join(__dirname.replace(/[\\/]dist[\\/]bench$/, '/bench'), 'report');
}

interface Options {
  scenario: string;
  redis: boolean;
  sync: boolean;
  limitsMs: number;
  out: string;
  keepData: boolean;
  redisSeconds: number;
  /** How the graph gets in: `import` (scripts/import.ts into the data dir before the cluster starts) or `events`. */
  graph: 'import' | 'events';
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string' },
      'no-redis': { type: 'boolean' },
      'no-sync': { type: 'boolean' },
      'limits-ms': { type: 'string' },
      'redis-seconds': { type: 'string' },
      out: { type: 'string' },
      'keep-data': { type: 'boolean' },
      graph: { type: 'string' },
    },
  });
  if (values.graph !== undefined && values.graph !== 'import' && values.graph !== 'events') throw new Error('--graph is import or events');
  return {
    scenario: values.scenario ?? 'spike',
    redis: !values['no-redis'],
    sync: !values['no-sync'],
    limitsMs: Number(values['limits-ms'] ?? 1500),
    redisSeconds: Number(values['redis-seconds'] ?? 3),
    out: resolvePath(values.out ?? join(reportDir(), 'spike-run.json')),
    keepData: !!values['keep-data'],
    graph: (values.graph as Options['graph'] | undefined) ?? 'import',
  };
}

type Msg = { op: string; id?: string; code?: string; message?: string; accepted?: number; offset?: number; notification?: { offset: number; eventIds: string[] } };

function connect(url: string, token: string, onMessage: (m: Msg) => void): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  ws.binaryType = 'nodebuffer';
  ws.on('message', (data: Buffer) => onMessage(decode(data) as Msg));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const send = (ws: WebSocket, msg: object) => ws.send(encode(msg), { binary: true });

/** The per-second series the report draws (index = second since the timeline started). */
export interface Series {
  t: number[];
  offered: number[];
  acked: number[];
  rejected: number[];
  delivered: number[];
  fanout_delivered: number[];
  /** CO-safe latency (ms) of the events INTENDED in that second, at subscribers. */
  p50: Array<number | null>;
  p99: Array<number | null>;
  p999: Array<number | null>;
  max: Array<number | null>;
}

export interface QueueSample {
  t: number;
  scrape_ms: number;
  gateway_pending: Record<string, number>;
  node_triggered: Record<string, number>;
  node_bulk: Record<string, number>;
  nodes_up: number;
}

export interface SpikeRun {
  summary: Record<string, unknown>;
  phases: Array<{ name: string; start: number; end: number; rate: number }>;
  celebrity_tweets: Array<{ at: number; author: string }>;
  series: Series;
  queues: QueueSample[];
  redis?: RedisComparison;
  limits: RawLimits;
}

/** One following: follower → followee, with the follower's affinity to it and the entities it engaged with. */
interface Edge {
  follower: string;
  followee: string;
  affinity: number;
  entities?: string[];
}

/**
 * The scenario's bimodal graph, drawn from `random`: each ordinary user follows a few others (low mode); each
 * celebrity is followed by u0..u<followers-1>, who also liked one of its tweets on its topic (affinity follow 1 +
 * like 1, the topic as an entity), so its tweets match their interest profile (docs/fanout.md).
 */
function graphEdges(sc: Scenario, random: () => number): Edge[] {
  const g = sc.graph;
  const pick = (n: number) => Math.floor(random() * n);
  const edges: Edge[] = [];
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

/** Writes the edges as the JSON lines scripts/import.ts reads, and imports them into the (stopped) cluster's data dir. */
async function importEdges(edges: Edge[], dataDir: string): Promise<{ seconds: number; keys: number }> {
  const file = join(dataDir, 'graph.jsonl');
  const out = createWriteStream(file);
  for (const e of edges) if (!out.write(JSON.stringify(e) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const opts = parseImportArgs(['--data', dataDir, '--file', file, '--nodes', '3', '--no-progress', '--sample', '0'])!;
  opts.log = (s) => log(`import: ${s}`);
  const t0 = performance.now();
  const res = await importGraph(opts);
  rmSync(file, { force: true });
  return { seconds: (performance.now() - t0) / 1000, keys: res.keys };
}

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  const scenario = loadScenario(o.scenario);
  log(`scenario ${scenario.name}: ${scenario.phases.map((p) => `${p.name} ${p.seconds}s @ ${p.rate}/s`).join(', ')}`);
  const idleLoad = await hostLoad(1000);
  log(`machine busy before the run: ${idleLoad.toFixed(2)} cores of ${availableParallelism()}${idleLoad > 0.2 ? ' -- WARNING: something else is running, figures will be low' : ''}`);
  const limits = await measureLimits(o.limitsMs, log);

  const dataDir = mkdtempSync(join(tmpdir(), 'herald-spike-'));
  let cluster: ClusterProcess | undefined;
  const sockets: WebSocket[] = [];
  try {
    // One seeded stream draws the graph, then the timeline's events: the same scenario replays the same day.
    const random = rng(scenario.graph.seed);
    const edges = graphEdges(scenario, random);
    let imported: { seconds: number; keys: number } | undefined;
    if (o.graph === 'import') {
      imported = await importEdges(edges, dataDir);
      log(`graph: ${edges.length} follow edges imported (scripts/import.ts, ${imported.keys} keys) in ${imported.seconds.toFixed(1)}s`);
    }
    cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', '--nodes', '3', ...(o.sync ? [] : ['--no-sync'])]);
    log(`cluster up: ${cluster.info.http}, gateway pid ${cluster.pid}, nodes ${JSON.stringify(cluster.info.nodes)}, sync=${o.sync}`);
    const run = await replay(o, scenario, cluster, dataDir, sockets, limits, idleLoad, random, o.graph === 'events' ? edges : undefined);
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
    process.stdout.write(JSON.stringify(run.summary) + '\n');
  } catch (err) {
    if (cluster) log(`cluster log tail:\n${cluster.logs.slice(-3000)}`);
    throw err;
  } finally {
    for (const ws of sockets) ws.terminate();
    if (cluster) log(`cluster stopped (exit ${await cluster.stop()})`);
    if (o.keepData) log(`data kept in ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

async function replay(
  o: Options,
  sc: Scenario,
  cluster: ClusterProcess,
  dataDir: string,
  sockets: WebSocket[],
  limits: RawLimits,
  idleLoad: number,
  random: () => number,
  /** The graph to publish as events (`--graph events`); absent: it was imported before the cluster started. */
  edges?: Edge[],
): Promise<SpikeRun> {
  const auth = Auth.fromDataDir(dataDir);
  const adminToken = auth.sign('bench-admin', 'admin', 3600);
  const g = sc.graph;
  const user = (i: number) => `u${i}`;
  const pick = (n: number) => Math.floor(random() * n);

  // ---- producers: every publish is tracked by id until its ack or error.
  type Pub = { kind: 'graph' | 'timeline' | 'tweet'; first: number; count: number };
  const pending = new Map<string, Pub>();
  let pubSeq = 0;
  const onAck: Array<(pub: Pub, m: Msg) => void> = [];
  const producers: WebSocket[] = [];
  for (let p = 0; p < sc.producers; p++) {
    const ws = await connect(cluster.info.ws, auth.sign(`producer-${p}`, 'producer', 3600), (m) => {
      const pub = m.id !== undefined ? pending.get(m.id) : undefined;
      if (!pub) return;
      pending.delete(m.id!);
      for (const f of onAck) f(pub, m);
    });
    producers.push(ws);
    sockets.push(ws);
  }
  let rr = 0;
  const publish = (kind: Pub['kind'], events: HeraldEvent[], first: number) => {
    const id = `p${pubSeq++}`;
    pending.set(id, { kind, first, count: events.length });
    send(producers[rr++ % producers.length], { op: 'publish', id, events });
  };

  // ---- 2. the graph as events (--graph events): published closed loop (bounded in flight), not timed.
  const graphEvents: HeraldEvent[] = [];
  for (const e of edges ?? []) {
    graphEvents.push({ id: `g${graphEvents.length}`, type: 'follow', actor: e.follower, target: e.followee });
    // An engagement on the celebrity's topic: the follower's profile now matches its tweets.
    if (e.entities) graphEvents.push({ id: `g${graphEvents.length}`, type: 'like', actor: e.follower, tweet: { id: `seed-${e.followee}`, author: e.followee, text: 'hello', entities: e.entities } });
  }
  let graphAcked = 0;
  const graphErrors: Record<string, number> = {};
  const tGraph = performance.now();
  await new Promise<void>((resolve) => {
    let next = 0;
    let inflight = 0;
    // Bounded: on a machine too busy to build the graph in 25 s, the run goes on with the part that was built.
    const deadline = performance.now() + 25_000;
    const pump = () => {
      if (performance.now() > deadline) next = graphEvents.length;
      while (inflight < sc.producers * 2 && next < graphEvents.length) {
        const batch = graphEvents.slice(next, next + 250);
        publish('graph', batch, next);
        next += batch.length;
        inflight++;
      }
      if (inflight === 0 && next >= graphEvents.length) resolve();
    };
    onAck.push((pub, m) => {
      if (pub.kind !== 'graph') return;
      inflight--;
      if (m.op === 'ack') graphAcked += pub.count;
      else graphErrors[m.code ?? '?'] = (graphErrors[m.code ?? '?'] ?? 0) + pub.count;
      pump();
    });
    pump();
  });
  const graphSecs = (performance.now() - tGraph) / 1000;
  if (edges) {
    log(`graph: ${g.users} users, ${graphEvents.length} events (follows + celebrity engagements) acked ${graphAcked} in ${graphSecs.toFixed(1)}s (${Math.round(graphAcked / graphSecs)}/s)${Object.keys(graphErrors).length ? `, errors ${JSON.stringify(graphErrors)}` : ''}`);
    // Let the graph's own work settle (the nodes finish their mailboxes) before timing anything.
    await sleep(500);
  }

  // ---- the timeline's bookkeeping, allocated up front.
  const { starts, total } = phaseStarts(sc);
  const counts = sc.phases.map((p) => Math.round(p.rate * p.seconds));
  const totalEvents = counts.reduce((a, b) => a + b, 0);
  const intended = new Float64Array(totalEvents);
  const phaseOf = new Uint8Array(totalEvents);
  const expect = new Uint8Array(totalEvents); // 1 = the recipient is a subscriber
  const state = new Uint8Array(totalEvents); // bit 1 acked, 2 rejected, 4 delivered
  const seconds = Math.ceil(total) + 40;
  const series = { offered: new Float64Array(seconds), acked: new Float64Array(seconds), rejected: new Float64Array(seconds), delivered: new Float64Array(seconds), fanout: new Float64Array(seconds) };
  const perSecond: LatencyRecorder[] = [];
  const perPhase = sc.phases.map(() => new LatencyRecorder());
  const fanoutLatency = new LatencyRecorder();
  const rejected: Record<string, number> = {};
  let T0 = Infinity;
  const sec = (t: number) => Math.max(0, Math.min(seconds - 1, Math.floor((t - T0) / 1000)));
  let delivered = 0;
  let fanoutDelivered = 0;
  let acked = 0;
  let gaps = 0;
  const closes: Record<string, number> = {};
  const tweetIntended = new Map<string, number>();

  // ---- subscribers u0..u<N-1>: offsets must arrive in order with no gap.
  const subscribed: Array<Promise<void>> = [];
  for (let i = 0; i < sc.subscribers; i++) {
    let last = -1;
    let ready!: () => void;
    subscribed.push(new Promise<void>((r) => (ready = r)));
    const ws = await connect(cluster.info.ws, auth.sign(user(i), 'user', 3600), (m) => {
      if (m.op === 'notification') {
        const now = performance.now();
        const n = m.notification!;
        if (last >= 0 && n.offset !== last + 1) gaps++;
        last = n.offset;
        // An aggregated like/retweet lists every event id it covers, the one that made it (this event) last.
        const id = n.eventIds[n.eventIds.length - 1];
        const c = id.charCodeAt(0);
        if (c === 115 /* s */) {
          const seq = Number(id.slice(1));
          if (state[seq] & 4) return;
          state[seq] |= 4;
          const ms = now - intended[seq];
          delivered++;
          series.delivered[sec(now)]++;
          perPhase[phaseOf[seq]].record(ms);
          const s = sec(intended[seq]);
          (perSecond[s] ??= new LatencyRecorder()).record(ms);
        } else if (c === 99 /* c */) {
          const at = tweetIntended.get(id);
          if (at !== undefined) fanoutLatency.record(now - at);
          fanoutDelivered++;
          series.fanout[sec(now)]++;
        }
      } else if (m.op === 'subscribed') {
        last = m.offset!;
        ready();
      }
    });
    ws.on('close', (code) => (closes[code] = (closes[code] ?? 0) + 1));
    sockets.push(ws);
    send(ws, { op: 'subscribe' });
  }
  await Promise.all(subscribed);
  log(`${sc.subscribers} subscribers subscribed`);

  onAck.push((pub, m) => {
    if (pub.kind !== 'timeline') return;
    const now = performance.now();
    if (m.op === 'ack') {
      acked += pub.count;
      series.acked[sec(now)] += pub.count;
      for (let s = pub.first; s < pub.first + pub.count; s++) state[s] |= 1;
    } else {
      rejected[m.code ?? '?'] = (rejected[m.code ?? '?'] ?? 0) + pub.count;
      series.rejected[sec(now)] += pub.count;
      for (let s = pub.first; s < pub.first + pub.count; s++) state[s] |= 2;
    }
  });
  const tweetErrors: Record<string, number> = {};
  onAck.push((pub, m) => {
    if (pub.kind === 'tweet' && m.op !== 'ack') tweetErrors[m.code ?? '?'] = (tweetErrors[m.code ?? '?'] ?? 0) + 1;
  });

  // ---- 4. the sampler: GET /metrics every second.
  const queues: QueueSample[] = [];
  let lastScrape: PromSample[] = [];
  let sampling = true;
  let scrapeFailures = 0;
  const scrape = async (): Promise<PromSample[] | undefined> => {
    try {
      const res = await fetch(`${cluster.info.http}/metrics`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(5000) });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      return parsePromText(await res.text());
    } catch {
      scrapeFailures++;
      return undefined;
    }
  };
  const sampler = (async () => {
    while (sampling) {
      const t = performance.now();
      const samples = await scrape();
      if (samples) {
        lastScrape = samples;
        queues.push({
          t: round((t - T0) / 1000, 3)!,
          scrape_ms: round(performance.now() - t, 1)!,
          gateway_pending: byLabel(samples, 'herald_channel_pending_events', 'node'),
          node_triggered: byLabel(samples, 'herald_node_queue_depth', 'node', { priority: 'triggered' }),
          node_bulk: byLabel(samples, 'herald_node_queue_depth', 'node', { priority: 'bulk' }),
          nodes_up: sumOf(samples, 'herald_node_up'),
        });
      }
      await sleep(Math.max(0, 1000 - (performance.now() - t)));
    }
  })();

  // ---- 3. the timeline, open loop.
  const mixEntries = Object.entries(sc.mix).filter(([, w]) => (w ?? 0) > 0) as Array<[string, number]>;
  const mixTotal = mixEntries.reduce((a, [, w]) => a + w, 0);
  const eventFor = (seq: number): HeraldEvent => {
    const r = random() < sc.subscriberShare ? pick(sc.subscribers) : pick(g.users);
    if (r < sc.subscribers) expect[seq] = 1;
    let a = pick(g.users);
    if (a === r) a = (a + 1) % g.users;
    const recipient = user(r);
    const actor = user(a);
    let x = random() * mixTotal;
    let type = mixEntries[mixEntries.length - 1][0];
    for (const [t, w] of mixEntries) {
      if (x < w) {
        type = t;
        break;
      }
      x -= w;
    }
    const id = `s${seq}`;
    switch (type) {
      case 'follow':
        return { id, type: 'follow', actor, target: recipient };
      case 'mention':
        return { id, type: 'mention', actor, tweet: { id: `m${seq}`, author: actor, text: `hey @${recipient}`, mentions: [recipient] } };
      default:
        return { id, type: type as HeraldEvent['type'], actor, tweet: { id: `t-${recipient}-${seq % 16}`, author: recipient, text: 'b' } };
    }
  };
  const tweets = sc.celebrityTweets.map((t, k) => ({ ...t, id: `c${k}` })).sort((a, b) => a.at - b.at);
  const phaseEnd = starts.map((s, i) => s + sc.phases[i].seconds);
  let maxLag = 0;
  let sentEvents = 0;
  const cpu = clusterCpuMeter(cluster);
  T0 = performance.now() + 50;
  log(`timeline: ${totalEvents} triggered events over ${total}s, ${tweets.length} celebrity tweets`);
  const progress = setInterval(() => {
    const q = queues[queues.length - 1];
    const pendingNow = q ? Object.values(q.gateway_pending).reduce((a, b) => a + b, 0) : 0;
    log(`  t=${((performance.now() - T0) / 1000).toFixed(0)}s sent ${sentEvents} acked ${acked} delivered ${delivered} rejected ${Object.values(rejected).reduce((a, b) => a + b, 0)} gateway pending ${pendingNow}`);
  }, 2000);
  await new Promise<void>((resolve) => {
    let phase = 0;
    let k = 0; // index within the phase
    let seq = 0;
    let tw = 0;
    const tick = () => {
      const now = performance.now();
      let frame: HeraldEvent[] = [];
      let first = seq;
      const flush = () => {
        if (frame.length) publish('timeline', frame, first);
        frame = [];
        first = seq;
      };
      while (phase < sc.phases.length) {
        if (k >= counts[phase]) {
          phase++;
          k = 0;
          continue;
        }
        const at = T0 + (starts[phase] + k / sc.phases[phase].rate) * 1000;
        if (at > now) break;
        maxLag = Math.max(maxLag, now - at);
        intended[seq] = at;
        phaseOf[seq] = phase;
        series.offered[sec(at)]++;
        frame.push(eventFor(seq));
        seq++;
        k++;
        sentEvents++;
        if (frame.length >= sc.maxFrameEvents) flush();
      }
      flush();
      while (tw < tweets.length && T0 + tweets[tw].at * 1000 <= now) {
        const t = tweets[tw++];
        tweetIntended.set(t.id, T0 + t.at * 1000);
        const celeb = g.celebrities.find((c) => c.id === t.author)!;
        publish('tweet', [{ id: t.id, type: 'tweet', actor: t.author, tweet: { id: `tw-${t.id}`, author: t.author, text: `news on ${celeb.topic}`, entities: [celeb.topic] } }], 0);
      }
      if (phase >= sc.phases.length && tw >= tweets.length) return resolve();
      const nextAt = phase < sc.phases.length ? T0 + (starts[phase] + k / sc.phases[phase].rate) * 1000 : T0 + (tweets[tw]?.at ?? 0) * 1000;
      setTimeout(tick, Math.max(0, Math.min(sc.tickMs, nextAt - performance.now())));
    };
    setTimeout(tick, Math.max(0, T0 - performance.now()));
  });
  const sendSecs = (performance.now() - T0) / 1000;
  log(`timeline sent in ${sendSecs.toFixed(1)}s (max sender lag ${maxLag.toFixed(1)} ms); draining`);

  // ---- drain: every publish answered, every acked subscriber event delivered, fanout idle (bounded).
  const expectedDelivered = () => {
    let n = 0;
    for (let s = 0; s < totalEvents; s++) if (expect[s] && state[s] & 1) n++;
    return n;
  };
  const drainUntil = performance.now() + 20_000;
  for (;;) {
    const q = queues[queues.length - 1];
    const fanoutIdle = lastScrape.length > 0 && sumOf(lastScrape, 'herald_node_fanout_active_jobs') === 0 && sumOf(lastScrape, 'herald_node_queue_depth') === 0;
    if ((pending.size === 0 && delivered >= expectedDelivered() && fanoutIdle && q && q.t > sendSecs) || performance.now() > drainUntil) break;
    await sleep(100);
  }
  const cpuTimeline = cpu();
  clearInterval(progress);
  sampling = false;
  await sampler;
  // The last word on counters (rejections, liveness kills, high-water marks): retried, the gateway may still be busy.
  let final: PromSample[] | undefined;
  for (let i = 0; i < 3 && !final; i++) final = await scrape();
  final ??= lastScrape;

  // ---- figures.
  const endSecond = Math.min(seconds, Math.ceil((performance.now() - T0) / 1000));
  const s: Series = { t: [], offered: [], acked: [], rejected: [], delivered: [], fanout_delivered: [], p50: [], p99: [], p999: [], max: [] };
  for (let i = 0; i < endSecond; i++) {
    s.t.push(i);
    s.offered.push(series.offered[i]);
    s.acked.push(series.acked[i]);
    s.rejected.push(series.rejected[i]);
    s.delivered.push(series.delivered[i]);
    s.fanout_delivered.push(series.fanout[i]);
    const r = perSecond[i];
    s.p50.push(r ? round(r.percentile(50)) : null);
    s.p99.push(r ? round(r.percentile(99)) : null);
    s.p999.push(r ? round(r.percentile(99.9)) : null);
    s.max.push(r ? round(r.max) : null);
  }
  const idx = (name: string) => sc.phases.findIndex((p) => p.name === name);
  const steadyI = idx('steady') >= 0 ? idx('steady') : 0;
  const spikeI = sc.phases.reduce((best, p, i) => (p.rate > sc.phases[best].rate ? i : best), 0);
  const secondsOf = (i: number) => {
    const out: number[] = [];
    for (let t = Math.ceil(starts[i]); t < Math.floor(phaseEnd[i]); t++) out.push(t);
    return out;
  };
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const lat = (r: LatencyRecorder) => ({ p50_ms: round(r.percentile(50)), p99_ms: round(r.percentile(99)), p999_ms: round(r.percentile(99.9)), max_ms: round(r.max), samples: r.count });
  const steadySecs = secondsOf(steadyI);
  const spikeSecs = secondsOf(spikeI);
  const steadyLat = lat(perPhase[steadyI]);
  const spikeLat = lat(perPhase[spikeI]);
  const peakAchieved = Math.max(0, ...s.acked.slice(Math.floor(starts[spikeI])));
  const peakDelivered = Math.max(0, ...s.delivered.slice(Math.floor(starts[spikeI])));
  // Recovered: from the first second after the spike on which events sent see steady latency again, for 3 seconds
  // running (p99 within 2x the steady p99, or 10 ms above it, whichever is larger) and none was rejected.
  const steadyP99 = perPhase[steadyI].percentile(99);
  const okLatency = Math.max(2 * steadyP99, steadyP99 + 10);
  const rejectedIntended = new Float64Array(seconds);
  for (let q = 0; q < totalEvents; q++) if (state[q] & 2) rejectedIntended[sec(intended[q])]++;
  let recoveredAt: number | null = null;
  for (let t = Math.ceil(phaseEnd[spikeI]); t + 2 < Math.min(endSecond, Math.floor(total)); t++) {
    const good = (u: number) => s.p99[u] !== null && s.p99[u]! <= okLatency && rejectedIntended[u] === 0;
    if (good(t) && good(t + 1) && good(t + 2)) {
      recoveredAt = t;
      break;
    }
  }
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const maxOf = (pick: (q: QueueSample) => number) => Math.max(0, ...queues.map(pick));
  const maxQueue = {
    // Per node, the gateway's own high-water mark (herald_channel_pending_events_max): exact even when scrapes lag.
    gateway_pending_events_per_node_max: byLabel(final, 'herald_channel_pending_events_max', 'node'),
    gateway_pending_events: maxOf((q) => sum(q.gateway_pending)),
    node_triggered_events: maxOf((q) => sum(q.node_triggered)),
    node_bulk_followers: maxOf((q) => sum(q.node_bulk)),
    per_node_gateway_pending: Object.fromEntries(Object.keys(queues[0]?.gateway_pending ?? {}).map((n) => [n, maxOf((q) => q.gateway_pending[n] ?? 0)])),
  };
  let missing = 0;
  let deliveredRejected = 0;
  for (let q = 0; q < totalEvents; q++) {
    if (expect[q] && state[q] & 1 && !(state[q] & 4)) missing++;
    if (state[q] & 2 && state[q] & 4) deliveredRejected++;
  }
  const totalRejected = sum(rejected);
  const steadyAchieved = mean(steadySecs.map((t) => s.acked[t]));
  const spikeAchieved = mean(spikeSecs.map((t) => s.acked[t]));
  const serverRejected: Record<string, number> = {};
  for (const x of final) if (x.name === 'herald_events_rejected_total') serverRejected[x.labels.code] = (serverRejected[x.labels.code] ?? 0) + x.value;
  const ratio = (a: number, b: number) => round(a / b, 4);

  const summary: Record<string, unknown> = {
    bench: 'spike',
    scenario: sc.name,
    steady: { offered_per_s: sc.phases[steadyI].rate, achieved_per_s: Math.round(steadyAchieved), ...steadyLat },
    spike: {
      offered_per_s: sc.phases[spikeI].rate,
      achieved_per_s: Math.round(spikeAchieved),
      peak_achieved_per_s: peakAchieved,
      peak_offered_per_s: Math.max(...s.offered),
      seconds: sc.phases[spikeI].seconds,
      ...spikeLat,
    },
    max_queue_depth: maxQueue,
    any_rejected: totalRejected > 0,
    rejected_by_code: rejected,
    rejected_by_code_server: serverRejected,
    recovery_s: recoveredAt === null ? null : round(recoveredAt - phaseEnd[spikeI], 1),
    recovery_rule: `first second after the spike starting 3 s in a row with p99 <= ${round(okLatency)} ms (max(2x steady p99, steady p99 + 10 ms)) and no rejection`,
    ratios: {
      steady_events_vs_raw_leveldb_sync_ops: ratio(steadyAchieved, limits.raw_leveldb_sync_batch_ops_per_s),
      peak_events_vs_raw_leveldb_sync_ops: ratio(peakAchieved, limits.raw_leveldb_sync_batch_ops_per_s),
      peak_events_vs_raw_leveldb_ops: ratio(peakAchieved, limits.raw_leveldb_batch_ops_per_s),
      peak_events_vs_raw_ipc_msgs: ratio(peakAchieved, limits.raw_ipc_msgs_per_s),
      peak_deliveries_vs_raw_ws_msgs: ratio(peakDelivered, limits.raw_ws_msgs_per_s),
    },
    limits,
    fanout: {
      tweets: tweets.length,
      deliveries_to_subscribers: fanoutDelivered,
      ...(fanoutLatency.count ? { p50_ms: round(fanoutLatency.percentile(50)), p99_ms: round(fanoutLatency.percentile(99)), max_ms: round(fanoutLatency.max) } : {}),
      tweet_errors: tweetErrors,
    },
    events_offered: totalEvents,
    events_acked: acked,
    events_rejected: totalRejected,
    deliveries_expected: expectedDelivered(),
    deliveries: delivered,
    deliveries_missing: missing,
    // A publish refused with HERALD_UNAVAILABLE (the gateway's deadline passed) may still have been applied.
    deliveries_of_rejected_events: deliveredRejected,
    subscriber_gaps: gaps,
    subscriber_closes: closes,
    liveness_kills: byLabel(final, 'herald_liveness_kills_total', 'node'),
    peak_deliveries_per_s: peakDelivered,
    sender_max_lag_ms: round(maxLag),
    server_latency_p50_le_ms: round(histogramQuantile(final, 'herald_delivery_latency_seconds', 0.5) * 1000),
    server_latency_p99_le_ms: round(histogramQuantile(final, 'herald_delivery_latency_seconds', 0.99) * 1000),
    scrapes: queues.length,
    scrape_failures: scrapeFailures,
    max_scrape_ms: Math.max(0, ...queues.map((q) => q.scrape_ms)),
    graph: { users: g.users, celebrities: g.celebrities.map((c) => `${c.id}:${c.followers}`), events: graphEvents.length, acked: graphAcked, events_per_s: Math.round(graphAcked / graphSecs), errors: graphErrors },
    subscribers: sc.subscribers,
    cpu_cores_timeline: cpuTimeline,
    sync_writes: o.sync,
    machine_busy_cores_before: round(idleLoad),
    nproc: availableParallelism(),
    node: process.version,
  };
  log(
    `steady: ${summary.steady && JSON.stringify(summary.steady)}; spike: ${JSON.stringify(summary.spike)}; recovery ${summary.recovery_s}s; ` +
      `rejected ${JSON.stringify(rejected)}; max queue ${JSON.stringify(maxQueue)}; missing ${missing}`,
  );
  return {
    summary,
    phases: sc.phases.map((p, i) => ({ name: p.name, start: starts[i], end: phaseEnd[i], rate: p.rate })),
    celebrity_tweets: sc.celebrityTweets,
    series: s,
    queues,
    limits,
  };
}

// Also runnable on its own: `node dist/bench/spike.js [options]` (same as `npm run bench -- spike`).
if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      console.error(`bench failed: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}
