import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import type { HeraldEvent } from '../core/Event';
import { Auth } from '../gateway/Auth';
import type { ClusterProcess } from '../scripts/ClusterProcess';
import { GatewayClient, type Msg } from './harness/GatewayClient';
import type { ImportEdge } from './harness/import';
import { LatencyRecorder } from './harness/LatencyRecorder';
import { progressLog } from './harness/main';
import { round } from './harness/round';
import { clusterCpuMeter, type CpuCores } from './harness/sampler';
import { sleep } from './harness/sleep';
import type { RawLimits } from './limits';
import { byLabel, histogramQuantile, parsePromText, sumOf, type PromSample } from './promText';
import type { RedisComparison } from './redis';
import { phaseStarts, type Scenario } from './scenario';

/**
 * The replay of `npm run bench -- spike` on a running cluster (bench/spike.ts starts it), step by step: producers,
 * the graph as events (`--graph events`), subscribers, the /metrics sampler, the open-loop timeline, the drain,
 * then the figures. Latency is measured at the subscribers from each event's INTENDED send time.
 */

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

/** One GET /metrics sample of the queues (t: seconds since the timeline started). */
export interface QueueSample {
  t: number;
  scrape_ms: number;
  gateway_pending: Record<string, number>;
  node_triggered: Record<string, number>;
  node_bulk: Record<string, number>;
  nodes_up: number;
}

/** Everything one spike run measured: bench/report/spike-run.json, what `npm run bench:report` draws. */
export interface SpikeRun {
  summary: Record<string, unknown>;
  phases: Array<{ name: string; start: number; end: number; rate: number }>;
  celebrity_tweets: Array<{ at: number; author: string }>;
  series: Series;
  queues: QueueSample[];
  redis?: RedisComparison;
  limits: RawLimits;
}

const log = progressLog('spike');

/** A publish in flight, tracked by its id until its ack or error. */
type Pub = { kind: 'graph' | 'timeline' | 'tweet'; first: number; count: number };

/** Event state bits of the timeline: acked, rejected, delivered to its subscriber. */
const ACKED = 1;
const REJECTED = 2;
const DELIVERED = 4;

/** What the graph step published (all zeros when the graph was imported). */
interface GraphPublished {
  events: number;
  acked: number;
  errors: Record<string, number>;
  secs: number;
}

/** Replays `sc` on `cluster` once; `run()` answers every figure. */
export class Replay {
  private readonly auth: Auth;
  private readonly adminToken: string;
  private readonly g: Scenario['graph'];

  // ---- producers: every publish is tracked by id until its ack or error.
  private readonly pending = new Map<string, Pub>();
  private pubSeq = 0;
  private rr = 0;
  private readonly onAck: Array<(pub: Pub, m: Msg) => void> = [];
  private readonly producers: GatewayClient[] = [];

  // ---- the timeline's bookkeeping, allocated up front.
  private readonly starts: number[];
  private readonly total: number;
  private readonly phaseEnd: number[];
  private readonly counts: number[];
  private readonly totalEvents: number;
  private readonly intended: Float64Array;
  private readonly phaseOf: Uint8Array;
  /** 1 = the recipient is a subscriber. */
  private readonly expect: Uint8Array;
  /** ACKED | REJECTED | DELIVERED bits per event. */
  private readonly state: Uint8Array;
  /** Seconds the per-second series hold: the timeline and up to 40 s of drain. */
  private readonly seconds: number;
  private readonly series: { offered: Float64Array; acked: Float64Array; rejected: Float64Array; delivered: Float64Array; fanout: Float64Array };
  private readonly perSecond: LatencyRecorder[] = [];
  private readonly perPhase: LatencyRecorder[];
  private readonly fanoutLatency = new LatencyRecorder();
  private readonly rejected: Record<string, number> = {};
  private readonly tweetErrors: Record<string, number> = {};
  private readonly tweetIntended = new Map<string, number>();
  private readonly closes: Record<string, number> = {};
  /** The timeline's start (performance clock); Infinity until it starts. */
  private T0 = Infinity;
  private delivered = 0;
  private fanoutDelivered = 0;
  private acked = 0;
  private gaps = 0;
  private sentEvents = 0;

  /** The mix's event types with their weights (those above 0), and their total. */
  private readonly mix: { entries: Array<[string, number]>; total: number };
  /** The celebrity tweets in time order, each with its id (`c<k>`, by the scenario's order). */
  private readonly tweets: Array<Scenario['celebrityTweets'][number] & { id: string }>;

  // ---- the sampler.
  private readonly queues: QueueSample[] = [];
  private lastScrape: PromSample[] = [];
  private scrapeFailures = 0;

  constructor(
    private readonly sc: Scenario,
    private readonly cluster: ClusterProcess,
    dataDir: string,
    private readonly sockets: WebSocket[],
    private readonly limits: RawLimits,
    private readonly idleLoad: number,
    private readonly random: () => number,
    private readonly syncWrites: boolean,
  ) {
    this.auth = Auth.fromDataDir(dataDir);
    this.adminToken = this.auth.sign('bench-admin', 'admin', 3600);
    this.g = sc.graph;
    const { starts, total } = phaseStarts(sc);
    this.starts = starts;
    this.total = total;
    this.phaseEnd = starts.map((s, i) => s + sc.phases[i].seconds);
    this.counts = sc.phases.map((p) => Math.round(p.rate * p.seconds));
    this.totalEvents = this.counts.reduce((a, b) => a + b, 0);
    this.intended = new Float64Array(this.totalEvents);
    this.phaseOf = new Uint8Array(this.totalEvents);
    this.expect = new Uint8Array(this.totalEvents);
    this.state = new Uint8Array(this.totalEvents);
    this.seconds = Math.ceil(total) + 40;
    const perSecond = () => new Float64Array(this.seconds);
    this.series = { offered: perSecond(), acked: perSecond(), rejected: perSecond(), delivered: perSecond(), fanout: perSecond() };
    this.perPhase = sc.phases.map(() => new LatencyRecorder());
    const entries = Object.entries(sc.mix).filter(([, w]) => (w ?? 0) > 0) as Array<[string, number]>;
    this.mix = { entries, total: entries.reduce((a, [, w]) => a + w, 0) };
    this.tweets = sc.celebrityTweets.map((t, k) => ({ ...t, id: `c${k}` })).sort((a, b) => a.at - b.at);
  }

  /** The replay: `edges` are published as events first (`--graph events`); absent, they were imported. */
  async run(edges?: ImportEdge[]): Promise<SpikeRun> {
    await this.connectProducers();
    const graph = await this.publishGraph(edges ?? []);
    await this.subscribe();
    this.countAcks();
    const sampler = this.sample();
    const cpu = clusterCpuMeter(this.cluster);
    this.T0 = performance.now() + 50;
    log(`timeline: ${this.totalEvents} triggered events over ${this.total}s, ${this.tweets.length} celebrity tweets`);
    const progress = this.logProgress();
    const sent = await this.sendTimeline();
    await this.drain(sent.secs);
    const cpuTimeline = cpu();
    clearInterval(progress);
    const final = await sampler.stop();
    return this.figures(graph, sent.maxLag, cpuTimeline, final);
  }

  private user(i: number): string {
    return `u${i}`;
  }

  private pick(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Second of the series a performance-clock time falls in (clamped to the series). */
  private sec(t: number): number {
    return Math.max(0, Math.min(this.seconds - 1, Math.floor((t - this.T0) / 1000)));
  }

  /** The producer sockets; each answer goes to every `onAck` handler with its publish. */
  private async connectProducers(): Promise<void> {
    for (let p = 0; p < this.sc.producers; p++) {
      const client = await GatewayClient.connect(this.cluster.info.ws, this.auth.sign(`producer-${p}`, 'producer', 3600), (m) => {
        const pub = m.id !== undefined ? this.pending.get(m.id) : undefined;
        if (!pub) return;
        this.pending.delete(m.id!);
        for (const f of this.onAck) f(pub, m);
      });
      this.producers.push(client);
      this.sockets.push(client.ws);
    }
  }

  /** Publishes one frame, round robin over the producers. */
  private publish(kind: Pub['kind'], events: HeraldEvent[], first: number): void {
    const id = `p${this.pubSeq++}`;
    this.pending.set(id, { kind, first, count: events.length });
    this.producers[this.rr++ % this.producers.length].send({ op: 'publish', id, events });
  }

  /** Step 2 with `--graph events`: the graph published closed loop (bounded in flight), not timed. */
  private async publishGraph(edges: ImportEdge[]): Promise<GraphPublished> {
    const graphEvents: HeraldEvent[] = [];
    for (const e of edges) {
      graphEvents.push({ id: `g${graphEvents.length}`, type: 'follow', actor: e.follower, target: e.followee });
      // An engagement on the celebrity's topic: the follower's profile now matches its tweets.
      if (e.entities)
        graphEvents.push({
          id: `g${graphEvents.length}`,
          type: 'like',
          actor: e.follower,
          tweet: { id: `seed-${e.followee}`, author: e.followee, text: 'hello', entities: e.entities },
        });
    }
    let acked = 0;
    const errors: Record<string, number> = {};
    const tGraph = performance.now();
    await new Promise<void>((resolve) => {
      let next = 0;
      let inflight = 0;
      // Bounded: on a machine too busy to build the graph in 25 s, the run goes on with the part that was built.
      const deadline = performance.now() + 25_000;
      const pump = () => {
        if (performance.now() > deadline) next = graphEvents.length;
        while (inflight < this.sc.producers * 2 && next < graphEvents.length) {
          const batch = graphEvents.slice(next, next + 250);
          this.publish('graph', batch, next);
          next += batch.length;
          inflight++;
        }
        if (inflight === 0 && next >= graphEvents.length) resolve();
      };
      this.onAck.push((pub, m) => {
        if (pub.kind !== 'graph') return;
        inflight--;
        if (m.op === 'ack') acked += pub.count;
        else errors[m.code ?? '?'] = (errors[m.code ?? '?'] ?? 0) + pub.count;
        pump();
      });
      pump();
    });
    const secs = (performance.now() - tGraph) / 1000;
    if (edges.length) {
      log(
        `graph: ${this.g.users} users, ${graphEvents.length} events (follows + celebrity engagements) acked ${acked} in ${secs.toFixed(1)}s (${Math.round(acked / secs)}/s)${Object.keys(errors).length ? `, errors ${JSON.stringify(errors)}` : ''}`,
      );
      // Let the graph's own work settle (the nodes finish their mailboxes) before timing anything.
      await sleep(500);
    }
    return { events: graphEvents.length, acked, errors, secs };
  }

  /** Subscribers u0..u<N-1>: offsets must arrive in order with no gap; each notification is timed. */
  private async subscribe(): Promise<void> {
    const subscribed: Array<Promise<void>> = [];
    for (let i = 0; i < this.sc.subscribers; i++) {
      let last = -1;
      let ready!: () => void;
      subscribed.push(new Promise<void>((r) => (ready = r)));
      const client = await GatewayClient.connect(this.cluster.info.ws, this.auth.sign(this.user(i), 'user', 3600), (m) => {
        if (m.op === 'notification') {
          const n = m.notification!;
          if (last >= 0 && n.offset !== last + 1) this.gaps++;
          last = n.offset;
          this.delivery(n.eventIds[n.eventIds.length - 1], performance.now());
        } else if (m.op === 'subscribed') {
          last = m.offset!;
          ready();
        }
      });
      client.ws.on('close', (code) => (this.closes[code] = (this.closes[code] ?? 0) + 1));
      this.sockets.push(client.ws);
      client.send({ op: 'subscribe' });
    }
    await Promise.all(subscribed);
    log(`${this.sc.subscribers} subscribers subscribed`);
  }

  /**
   * A notification at a subscriber, by the newest event id it holds (an aggregated like/retweet lists every event
   * id it covers, the one that made it last): a timeline event `s<seq>` or a celebrity tweet `c<k>`.
   */
  private delivery(id: string, now: number): void {
    const c = id.charCodeAt(0);
    if (c === 115 /* s */) {
      const seq = Number(id.slice(1));
      if (this.state[seq] & DELIVERED) return;
      this.state[seq] |= DELIVERED;
      const ms = now - this.intended[seq];
      this.delivered++;
      this.series.delivered[this.sec(now)]++;
      this.perPhase[this.phaseOf[seq]].record(ms);
      const s = this.sec(this.intended[seq]);
      (this.perSecond[s] ??= new LatencyRecorder()).record(ms);
    } else if (c === 99 /* c */) {
      const at = this.tweetIntended.get(id);
      if (at !== undefined) this.fanoutLatency.record(now - at);
      this.fanoutDelivered++;
      this.series.fanout[this.sec(now)]++;
    }
  }

  /** The answers to the timeline's publishes (acked or rejected, per event and per second) and to the tweets. */
  private countAcks(): void {
    this.onAck.push((pub, m) => {
      if (pub.kind !== 'timeline') return;
      const now = performance.now();
      if (m.op === 'ack') {
        this.acked += pub.count;
        this.series.acked[this.sec(now)] += pub.count;
        for (let s = pub.first; s < pub.first + pub.count; s++) this.state[s] |= ACKED;
      } else {
        this.rejected[m.code ?? '?'] = (this.rejected[m.code ?? '?'] ?? 0) + pub.count;
        this.series.rejected[this.sec(now)] += pub.count;
        for (let s = pub.first; s < pub.first + pub.count; s++) this.state[s] |= REJECTED;
      }
    });
    this.onAck.push((pub, m) => {
      if (pub.kind === 'tweet' && m.op !== 'ack') this.tweetErrors[m.code ?? '?'] = (this.tweetErrors[m.code ?? '?'] ?? 0) + 1;
    });
  }

  /** GET /metrics (admin token); undefined when it fails (counted). */
  private async scrape(): Promise<PromSample[] | undefined> {
    try {
      const res = await fetch(`${this.cluster.info.http}/metrics`, {
        headers: { authorization: `Bearer ${this.adminToken}` },
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      return parsePromText(await res.text());
    } catch {
      this.scrapeFailures++;
      return undefined;
    }
  }

  /** Step 4, the sampler: the queues from GET /metrics every second; `stop()` answers a last full scrape. */
  private sample(): { stop: () => Promise<PromSample[]> } {
    let sampling = true;
    const loop = (async () => {
      while (sampling) {
        const t = performance.now();
        const samples = await this.scrape();
        if (samples) {
          this.lastScrape = samples;
          this.queues.push({
            t: round((t - this.T0) / 1000, 3)!,
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
    return {
      stop: async () => {
        sampling = false;
        await loop;
        // The last word on counters (rejections, liveness kills, high-water marks): retried, the gateway may still be busy.
        let final: PromSample[] | undefined;
        for (let i = 0; i < 3 && !final; i++) final = await this.scrape();
        return final ?? this.lastScrape;
      },
    };
  }

  /** Timeline event `seq`: a random type of the mix, to a subscriber with `subscriberShare`, by a random actor. */
  private eventFor(seq: number): HeraldEvent {
    const { sc, g } = this;
    const r = this.random() < sc.subscriberShare ? this.pick(sc.subscribers) : this.pick(g.users);
    if (r < sc.subscribers) this.expect[seq] = 1;
    let a = this.pick(g.users);
    if (a === r) a = (a + 1) % g.users;
    const recipient = this.user(r);
    const actor = this.user(a);
    let x = this.random() * this.mix.total;
    let type = this.mix.entries[this.mix.entries.length - 1][0];
    for (const [t, w] of this.mix.entries) {
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
  }

  /** A progress line every 2 s while the timeline is sent and drained. */
  private logProgress(): NodeJS.Timeout {
    return setInterval(() => {
      const q = this.queues[this.queues.length - 1];
      const pendingNow = q ? Object.values(q.gateway_pending).reduce((a, b) => a + b, 0) : 0;
      log(
        `  t=${((performance.now() - this.T0) / 1000).toFixed(0)}s sent ${this.sentEvents} acked ${this.acked} delivered ${this.delivered} rejected ${Object.values(this.rejected).reduce((a, b) => a + b, 0)} gateway pending ${pendingNow}`,
      );
    }, 2000);
  }

  /**
   * Step 3, the timeline, open loop: event k of a phase is due at phase start + k/rate; every tick sends every
   * event whose time has come (frames of at most maxFrameEvents), and the celebrity tweets whose time has come.
   */
  private async sendTimeline(): Promise<{ secs: number; maxLag: number }> {
    const { sc, g, starts, counts, tweets, T0 } = this;
    let maxLag = 0;
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
          if (frame.length) this.publish('timeline', frame, first);
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
          this.intended[seq] = at;
          this.phaseOf[seq] = phase;
          this.series.offered[this.sec(at)]++;
          frame.push(this.eventFor(seq));
          seq++;
          k++;
          this.sentEvents++;
          if (frame.length >= sc.maxFrameEvents) flush();
        }
        flush();
        while (tw < tweets.length && T0 + tweets[tw].at * 1000 <= now) {
          const t = tweets[tw++];
          this.tweetIntended.set(t.id, T0 + t.at * 1000);
          const celeb = g.celebrities.find((c) => c.id === t.author)!;
          this.publish(
            'tweet',
            [
              {
                id: t.id,
                type: 'tweet',
                actor: t.author,
                tweet: { id: `tw-${t.id}`, author: t.author, text: `news on ${celeb.topic}`, entities: [celeb.topic] },
              },
            ],
            0,
          );
        }
        if (phase >= sc.phases.length && tw >= tweets.length) return resolve();
        const nextAt = phase < sc.phases.length ? T0 + (starts[phase] + k / sc.phases[phase].rate) * 1000 : T0 + (tweets[tw]?.at ?? 0) * 1000;
        setTimeout(tick, Math.max(0, Math.min(sc.tickMs, nextAt - performance.now())));
      };
      setTimeout(tick, Math.max(0, T0 - performance.now()));
    });
    const secs = (performance.now() - T0) / 1000;
    log(`timeline sent in ${secs.toFixed(1)}s (max sender lag ${maxLag.toFixed(1)} ms); draining`);
    return { secs, maxLag };
  }

  /** Acked events to subscribers: what must be delivered. */
  private expectedDelivered(): number {
    let n = 0;
    for (let s = 0; s < this.totalEvents; s++) if (this.expect[s] && this.state[s] & ACKED) n++;
    return n;
  }

  /** The drain: every publish answered, every acked subscriber event delivered, fanout idle (bounded, 20 s). */
  private async drain(sendSecs: number): Promise<void> {
    const drainUntil = performance.now() + 20_000;
    for (;;) {
      const q = this.queues[this.queues.length - 1];
      const fanoutIdle =
        this.lastScrape.length > 0 && sumOf(this.lastScrape, 'herald_node_fanout_active_jobs') === 0 && sumOf(this.lastScrape, 'herald_node_queue_depth') === 0;
      if ((this.pending.size === 0 && this.delivered >= this.expectedDelivered() && fanoutIdle && q && q.t > sendSecs) || performance.now() > drainUntil) break;
      await sleep(100);
    }
  }

  /** The per-second series up to the end of the run (or of the series). */
  private seriesUpTo(endSecond: number): Series {
    const s: Series = { t: [], offered: [], acked: [], rejected: [], delivered: [], fanout_delivered: [], p50: [], p99: [], p999: [], max: [] };
    for (let i = 0; i < endSecond; i++) {
      s.t.push(i);
      s.offered.push(this.series.offered[i]);
      s.acked.push(this.series.acked[i]);
      s.rejected.push(this.series.rejected[i]);
      s.delivered.push(this.series.delivered[i]);
      s.fanout_delivered.push(this.series.fanout[i]);
      const r = this.perSecond[i];
      s.p50.push(r ? round(r.percentile(50)) : null);
      s.p99.push(r ? round(r.percentile(99)) : null);
      s.p999.push(r ? round(r.percentile(99.9)) : null);
      s.max.push(r ? round(r.max) : null);
    }
    return s;
  }

  /**
   * Recovered: from the first second after the spike on which events sent see steady latency again, for 3 seconds
   * running (p99 within `okLatency`) and none was rejected; null when not within the run.
   */
  private recoveredAt(s: Series, spikeI: number, endSecond: number, okLatency: number): number | null {
    const rejectedIntended = new Float64Array(this.seconds);
    for (let q = 0; q < this.totalEvents; q++) if (this.state[q] & REJECTED) rejectedIntended[this.sec(this.intended[q])]++;
    for (let t = Math.ceil(this.phaseEnd[spikeI]); t + 2 < Math.min(endSecond, Math.floor(this.total)); t++) {
      const good = (u: number) => s.p99[u] !== null && s.p99[u]! <= okLatency && rejectedIntended[u] === 0;
      if (good(t) && good(t + 1) && good(t + 2)) return t;
    }
    return null;
  }

  /** The deepest queues the sampler saw, and the gateway's own high-water mark per node. */
  private maxQueue(final: PromSample[]) {
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    const maxOf = (pick: (q: QueueSample) => number) => Math.max(0, ...this.queues.map(pick));
    return {
      // Per node, the gateway's own high-water mark (herald_channel_pending_events_max): exact even when scrapes lag.
      gateway_pending_events_per_node_max: byLabel(final, 'herald_channel_pending_events_max', 'node'),
      gateway_pending_events: maxOf((q) => sum(q.gateway_pending)),
      node_triggered_events: maxOf((q) => sum(q.node_triggered)),
      node_bulk_followers: maxOf((q) => sum(q.node_bulk)),
      per_node_gateway_pending: Object.fromEntries(Object.keys(this.queues[0]?.gateway_pending ?? {}).map((n) => [n, maxOf((q) => q.gateway_pending[n] ?? 0)])),
    };
  }

  /** Every figure of the run: the summary (the result line), the phases, the series and the queue samples. */
  private figures(graph: GraphPublished, maxLag: number, cpuTimeline: CpuCores, final: PromSample[]): SpikeRun {
    const { sc, g, starts, phaseEnd, perPhase, limits } = this;
    const endSecond = Math.min(this.seconds, Math.ceil((performance.now() - this.T0) / 1000));
    const s = this.seriesUpTo(endSecond);
    const idx = (name: string) => sc.phases.findIndex((p) => p.name === name);
    const steadyI = idx('steady') >= 0 ? idx('steady') : 0;
    const spikeI = sc.phases.reduce((best, p, i) => (p.rate > sc.phases[best].rate ? i : best), 0);
    const secondsOf = (i: number) => {
      const out: number[] = [];
      for (let t = Math.ceil(starts[i]); t < Math.floor(phaseEnd[i]); t++) out.push(t);
      return out;
    };
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
    const lat = (r: LatencyRecorder) => ({
      p50_ms: round(r.percentile(50)),
      p99_ms: round(r.percentile(99)),
      p999_ms: round(r.percentile(99.9)),
      max_ms: round(r.max),
      samples: r.count,
    });
    const steadyLat = lat(perPhase[steadyI]);
    const spikeLat = lat(perPhase[spikeI]);
    const peakAchieved = Math.max(0, ...s.acked.slice(Math.floor(starts[spikeI])));
    const peakDelivered = Math.max(0, ...s.delivered.slice(Math.floor(starts[spikeI])));
    // Steady latency again: p99 within 2x the steady p99, or 10 ms above it, whichever is larger.
    const steadyP99 = perPhase[steadyI].percentile(99);
    const okLatency = Math.max(2 * steadyP99, steadyP99 + 10);
    const recoveredAt = this.recoveredAt(s, spikeI, endSecond, okLatency);
    const maxQueue = this.maxQueue(final);
    let missing = 0;
    let deliveredRejected = 0;
    for (let q = 0; q < this.totalEvents; q++) {
      if (this.expect[q] && this.state[q] & ACKED && !(this.state[q] & DELIVERED)) missing++;
      if (this.state[q] & REJECTED && this.state[q] & DELIVERED) deliveredRejected++;
    }
    const totalRejected = Object.values(this.rejected).reduce((a, b) => a + b, 0);
    const steadyAchieved = mean(secondsOf(steadyI).map((t) => s.acked[t]));
    const spikeAchieved = mean(secondsOf(spikeI).map((t) => s.acked[t]));
    const serverRejected: Record<string, number> = {};
    for (const x of final) if (x.name === 'herald_events_rejected_total') serverRejected[x.labels.code] = (serverRejected[x.labels.code] ?? 0) + x.value;
    const ratio = (a: number, b: number) => round(a / b, 4);
    const fanout = this.fanoutLatency;

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
      rejected_by_code: this.rejected,
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
        tweets: this.tweets.length,
        deliveries_to_subscribers: this.fanoutDelivered,
        ...(fanout.count ? { p50_ms: round(fanout.percentile(50)), p99_ms: round(fanout.percentile(99)), max_ms: round(fanout.max) } : {}),
        tweet_errors: this.tweetErrors,
      },
      events_offered: this.totalEvents,
      events_acked: this.acked,
      events_rejected: totalRejected,
      deliveries_expected: this.expectedDelivered(),
      deliveries: this.delivered,
      deliveries_missing: missing,
      // A publish refused with HERALD_UNAVAILABLE (the gateway's deadline passed) may still have been applied.
      deliveries_of_rejected_events: deliveredRejected,
      subscriber_gaps: this.gaps,
      subscriber_closes: this.closes,
      liveness_kills: byLabel(final, 'herald_liveness_kills_total', 'node'),
      peak_deliveries_per_s: peakDelivered,
      sender_max_lag_ms: round(maxLag),
      server_latency_p50_le_ms: round(histogramQuantile(final, 'herald_delivery_latency_seconds', 0.5) * 1000),
      server_latency_p99_le_ms: round(histogramQuantile(final, 'herald_delivery_latency_seconds', 0.99) * 1000),
      scrapes: this.queues.length,
      scrape_failures: this.scrapeFailures,
      max_scrape_ms: Math.max(0, ...this.queues.map((q) => q.scrape_ms)),
      graph: {
        users: g.users,
        celebrities: g.celebrities.map((c) => `${c.id}:${c.followers}`),
        events: graph.events,
        acked: graph.acked,
        events_per_s: Math.round(graph.acked / graph.secs),
        errors: graph.errors,
      },
      subscribers: sc.subscribers,
      cpu_cores_timeline: cpuTimeline,
      sync_writes: this.syncWrites,
      machine_busy_cores_before: round(this.idleLoad),
      nproc: availableParallelism(),
      node: process.version,
    };
    log(
      `steady: ${summary.steady && JSON.stringify(summary.steady)}; spike: ${JSON.stringify(summary.spike)}; recovery ${summary.recovery_s}s; ` +
        `rejected ${JSON.stringify(this.rejected)}; max queue ${JSON.stringify(maxQueue)}; missing ${missing}`,
    );
    return {
      summary,
      phases: sc.phases.map((p, i) => ({ name: p.name, start: starts[i], end: phaseEnd[i], rate: p.rate })),
      celebrity_tweets: sc.celebrityTweets,
      series: s,
      queues: this.queues,
      limits,
    };
  }
}
