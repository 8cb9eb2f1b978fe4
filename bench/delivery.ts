import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Auth } from '../gateway/Auth';
import { ClusterProcess } from '../scripts/ClusterProcess';
import { SmtpCounter, WebhookSink, type Arrivals } from './deliverySinks';
import { parseOptions } from './harness/args';
import { logClusterTail } from './harness/clusterLogs';
import { dropDataDir, tempDataDir } from './harness/dataDir';
import { GatewayClient, type Msg } from './harness/GatewayClient';
import { http } from './harness/http';
import { LatencyRecorder } from './harness/LatencyRecorder';
import { gitCommit, machineBusyBefore } from './harness/machine';
import { printResult, progressLog } from './harness/main';
import { OpenLoop } from './harness/OpenLoop';
import { Probe } from './harness/Probe';
import { cpuSeconds } from './harness/procfs';
import { round } from './harness/round';
import { cpuMeter } from './harness/sampler';
import { sleep } from './harness/sleep';
import { Subscribers } from './harness/Subscribers';

/**
 * `npm run bench -- delivery`: push, SMS and email through herald's persistent queues and sender workers, on a
 * real 3-node cluster configured (`--config`) with two local webhook providers (push, sms) and a local SMTP server
 * (smtp-server), all in this process on 127.0.0.1 (docs/benchmarks.md, "delivery").
 *
 *  0. raw limits, before the cluster exists: signed JSON POSTs/s to the same push provider from one forked
 *     process with global fetch (what WebhookChannel uses), as many in flight as the cluster's push workers;
 *     emails/s to the same SMTP server through one pooled nodemailer transport (what EmailChannel uses).
 *  a. sends/s per channel: users with a device, a phone and an address and every channel on for `follow` are in
 *     quiet hours until a second T; --events-a follow events are published (and acked) before T, so their
 *     push, SMS and email jobs wait on disk, all due at T. From T the senders drain the three queues with no
 *     publish competing; sends/s = completed provider requests between the 10% and 90% marks of each channel.
 *  b. in-app latency: --recipients users subscribed live, an open-loop --rate follow events/s at them (each
 *     also queues a push, an SMS and an email), latency from the event's INTENDED send time to its arrival on the
 *     recipient's socket (no coordinated omission). First as a baseline before the recipients have any device
 *     (no sends at all: the in-app path alone; --no-baseline skips it), then with a fast push provider, then
 *     with the push provider answering after --slow-ms; the floor: p99 slow ≤ 2 × p99 fast.
 *
 * Progress goes to stderr; the last stdout line is one JSON object with every figure.
 */

const FLOOR_SLOW_OVER_FAST = 2;

interface Options {
  nodes: number;
  usersA: number;
  eventsA: number;
  quietS: number;
  drainAS: number;
  recipients: number;
  fans: number;
  rate: number;
  durationS: number;
  frameEvents: number;
  producers: number;
  slowMs: number;
  senderConcurrency: number;
  emailConnections: number;
  emailEvery: number;
  rawMs: number;
  baseline: boolean;
  profileDir?: string;
  stagesDir?: string;
  keepData: boolean;
}

/** Every count and duration must be above 0. */
const OPTIONS = {
  'users-a': { type: 'number', default: 500, above: 0 },
  'events-a': { type: 'number', default: 9000, above: 0 },
  'quiet-s': { type: 'number', default: 12, above: 0 },
  'drain-a-s': { type: 'number', default: 40, above: 0 },
  recipients: { type: 'number', default: 200, above: 0 },
  fans: { type: 'number', default: 2000, above: 0 },
  rate: { type: 'number', default: 1000, above: 0 },
  duration: { type: 'number', default: 10, above: 0 },
  'frame-events': { type: 'number', default: 10, above: 0 },
  producers: { type: 'number', default: 4, above: 0 },
  'slow-ms': { type: 'number', default: 500, above: 0 },
  'sender-concurrency': { type: 'number', default: 8, above: 0 },
  'email-connections': { type: 'number', default: 2, above: 0 },
  'email-every': { type: 'number', default: 4, above: 0 },
  'raw-ms': { type: 'number', default: 3000, above: 0 },
  'no-baseline': { type: 'boolean' },
  profile: { type: 'string' },
  stages: { type: 'string' },
  'keep-data': { type: 'boolean' },
} as const;

function options(args: string[]): Options {
  const { values } = parseOptions(args, OPTIONS);
  return {
    nodes: 3,
    usersA: values['users-a'],
    eventsA: values['events-a'],
    quietS: values['quiet-s'],
    drainAS: values['drain-a-s'],
    recipients: values.recipients,
    fans: values.fans,
    rate: values.rate,
    durationS: values.duration,
    frameEvents: values['frame-events'],
    producers: values.producers,
    slowMs: values['slow-ms'],
    senderConcurrency: values['sender-concurrency'],
    emailConnections: values['email-connections'],
    emailEvery: values['email-every'],
    rawMs: values['raw-ms'],
    baseline: !values['no-baseline'],
    profileDir: values.profile,
    stagesDir: values.stages,
    keepData: values['keep-data'],
  };
}

const log = progressLog('delivery');

/** Runs one raw measurement in a forked child (bench/deliveryRawChild.js). */
type RawResult = { n: number; secs: number; per_s: number; cpu_ms_per_send: number };
function raw(job: object, timeoutMs: number): Promise<RawResult> {
  const child = fork(join(__dirname, 'deliveryRawChild.js'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise<RawResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('raw child took too long')), timeoutMs);
    child.once('message', (m: RawResult & { done: boolean; error?: string }) => {
      clearTimeout(timer);
      if (m.done) resolve(m);
      else reject(new Error(m.error));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`raw child exited with ${code}`));
    });
    child.send(job);
  }).finally(() => {
    child.removeAllListeners('exit');
    if (child.exitCode === null) child.kill('SIGKILL');
  });
}

/** `HH:MM:SS` (UTC) of a wall-clock time. */
const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** Completed requests/s of a channel between its 10% and 90% marks of `expected` (or up to `until`). */
function drainRate(a: Arrivals, from: number, expected: number, until: number) {
  const times = a.times.filter((t) => t >= from).sort((x, y) => x - y);
  const at = (q: number) => times[Math.max(0, Math.ceil(q * expected) - 1)];
  const t10 = at(0.1);
  const t90 = at(0.9);
  let perS: number;
  if (t10 !== undefined && t90 !== undefined) perS = (Math.ceil(0.9 * expected) - Math.ceil(0.1 * expected)) / ((t90 - t10) / 1000);
  else if (t10 !== undefined) perS = (times.length - Math.ceil(0.1 * expected)) / ((until - t10) / 1000);
  else perS = times.length / ((until - from) / 1000);
  return {
    sends_per_s: Math.round(perS),
    sent: times.length,
    expected,
    duplicates: a.duplicates,
    first_after_due_ms: times.length ? round(times[0] - from, 0) : null,
    all_sent_after_due_s: times.length >= expected ? round((times[expected - 1] - from) / 1000) : null,
  };
}

function lagSummary(a: Arrivals) {
  const s = new LatencyRecorder();
  for (const v of a.lagMs) s.record(v);
  return { n: s.count, p50_ms: round(s.percentile(50), 0), p99_ms: round(s.percentile(99), 0), max_ms: round(s.max, 0) };
}

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  const started = performance.now();
  log(`options ${JSON.stringify(o)}`);
  const idleLoad = await machineBusyBefore(log);

  const push = await WebhookSink.start('bench-push-secret-0123456789');
  const sms = await WebhookSink.start('bench-sms-secret-0123456789');
  const smtp = await SmtpCounter.start();
  const sinks = { push: push.arrivals, sms: sms.arrivals, email: smtp.arrivals };
  const dataDir = tempDataDir('delivery');
  let cluster: ClusterProcess | undefined;
  let subscribers: Subscribers | undefined;
  const sockets: Array<{ terminate(): void }> = [];
  try {
    // ---- 0. Raw limits, alone on the machine.
    const workers = o.nodes * o.senderConcurrency;
    const rawHttp = await raw({ kind: 'http', url: push.url, secret: push.secret, ms: o.rawMs, concurrency: workers }, o.rawMs + 20_000);
    log(`raw: ${Math.round(rawHttp.per_s)} signed POSTs/s to the push provider from one process (fetch, ${workers} in flight)`);
    const rawSmtp = await raw(
      { kind: 'smtp', port: smtp.port, ms: o.rawMs, connections: o.nodes * o.emailConnections, concurrency: workers },
      o.rawMs + 20_000,
    );
    log(
      `raw: ${Math.round(rawSmtp.per_s)} emails/s to the SMTP server from one process (nodemailer pool, ${o.nodes * o.emailConnections} connections, ${workers} in flight)`,
    );
    for (const a of Object.values(sinks)) a.reset();

    // ---- The cluster.
    const configFile = join(dataDir, 'bench-config.json');
    const config = {
      channels: {
        push: { url: push.url, secret: push.secret, timeoutMs: 5000 },
        sms: { url: sms.url, secret: sms.secret, timeoutMs: 5000 },
        email: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'herald bench <noreply@bench.test>', maxConnections: o.emailConnections },
      },
      // Caps would stop a user's 2nd push within 30 min: raised so they never limit the throughput.
      pushCap: { max: 1_000_000, windowMs: 1000, minGapMs: 0 },
      sender: { concurrency: o.senderConcurrency, maxAttempts: 5, baseBackoffMs: 1000, maxBackoffMs: 300_000 },
    };
    writeFileSync(configFile, JSON.stringify(config));
    const probe = Probe.from(o.profileDir, o.stagesDir);
    cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', '--nodes', String(o.nodes), '--config', configFile], { env: probe?.env() });
    const c = cluster;
    log(`cluster up: ${c.info.http}, gateway pid ${c.pid}, nodes ${JSON.stringify(c.info.nodes)}`);
    const pids = () => ({ gateway: c.pid, ...c.info.nodes, bench: process.pid });
    const clusterCpuSeconds = () => [c.pid, ...Object.values(c.info.nodes)].reduce((a, pid) => a + cpuSeconds(pid), 0);
    const auth = Auth.fromDataDir(dataDir);
    const admin = auth.sign('bench', 'admin', 3600);
    const probed = [c.pid, ...Object.values(c.info.nodes)];
    const probeWindow = (name: string) => {
      const stop = probe?.window(name, probed);
      return async () => stop && log(`${name}: ${probe!.mode} files written to ${await stop()}`);
    };

    // The nodes' sender counters (GET /v1/admin/stats), summed per channel: sent, retried, dead.
    type Counters = Record<string, { sent: number; retried: number; dead: number }>;
    const senders = async (): Promise<Counters> => {
      const out: Counters = {};
      const stats = await http<{ nodes: Array<{ senders?: Counters }> }>(c.info.http, admin, 'GET', '/v1/admin/stats');
      for (const n of stats.nodes) {
        for (const [ch, v] of Object.entries(n.senders ?? {})) {
          const o = (out[ch] ??= { sent: 0, retried: 0, dead: 0 });
          o.sent += v.sent;
          o.retried += v.retried;
          o.dead += v.dead;
        }
      }
      return out;
    };
    const delta = (a: Counters, b: Counters) =>
      Object.fromEntries(
        Object.keys(b).map((ch) => [
          ch,
          { sent: b[ch].sent - (a[ch]?.sent ?? 0), retried: b[ch].retried - (a[ch]?.retried ?? 0), dead: b[ch].dead - (a[ch]?.dead ?? 0) },
        ]),
      );
    const allOn = { push: true, sms: true, email: true };
    const settingsOf = (u: string, i: number, quietEnd?: number) => ({
      tz: 'UTC',
      // Every user has a device and a phone; one in --email-every also has an email address (SMTP is the slowest
      // channel: as many emails as pushes would outlast the run).
      devices: { push: [`tok-${u}`], sms: `+1555${String(i).padStart(7, '0')}`, ...(i % o.emailEvery === 0 ? { email: `${u}@bench.test` } : {}) },
      channels: { follow: allOn },
      ...(quietEnd ? { quietHours: { start: hhmmss(Date.now() - 120_000), end: hhmmss(quietEnd) } } : {}),
    });
    const putSettings = async (users: string[], quietEnd?: number) => {
      for (let i = 0; i < users.length; i += 32) {
        await Promise.all(users.slice(i, i + 32).map((u, k) => http(c.info.http, admin, 'PUT', `/v1/users/${u}/settings`, settingsOf(u, i + k, quietEnd))));
      }
    };

    // ---- a. Sends/s per channel, draining queued jobs.
    const usersA = Array.from({ length: o.usersA }, (_, i) => `qa-${i}`);
    const fans = Array.from({ length: o.fans }, (_, i) => `fan-${i}`);
    // Quiet hours end on a whole second (they are to the second): T is the next whole second after quietS.
    const quietEndWall = Math.ceil((Date.now() + o.quietS * 1000) / 1000) * 1000;
    const quietEndPerf = performance.now() + (quietEndWall - Date.now());
    await putSettings(usersA, quietEndWall);
    log(
      `a: ${usersA.length} users in quiet hours until ${hhmmss(quietEndWall)} UTC (in ${((quietEndWall - Date.now()) / 1000).toFixed(1)}s); publishing ${o.eventsA} follow events before then`,
    );
    const emailTargets: boolean[] = [];
    const published = await publishClosedLoop(
      c.info.ws,
      (p) => auth.sign(`producer-a${p}`, 'producer', 3600),
      o.eventsA,
      quietEndPerf - 1000,
      (seq) => {
        const target = usersA[seq % usersA.length];
        emailTargets[seq] = (seq % usersA.length) % o.emailEvery === 0;
        return { id: `A${seq}`, type: 'follow', actor: fans[(seq * 7919) % fans.length], target };
      },
    );
    log(
      `a: ${published.acked} events acked in ${published.secs.toFixed(1)}s (${Math.round(published.acked / published.secs)}/s)${published.acked < o.eventsA ? ' -- fewer than asked: the quiet window closed first' : ''}; errors ${JSON.stringify(published.errors)}`,
    );
    const leak = { push: push.arrivals.count, sms: sms.arrivals.count, email: smtp.arrivals.count };
    await sleep(Math.max(0, quietEndPerf - performance.now()));
    const stopProbeA = probeWindow('a-drain');
    const countersA0 = await senders();
    const cpuA = cpuMeter(pids);
    const cpuSecsA0 = clusterCpuSeconds();
    const deadlineA = quietEndPerf + o.drainAS * 1000;
    const expectedA = published.acked;
    // Frames are acked whole and in order per socket; the emails expected are those of the acked events (close enough:
    // an unacked frame at the deadline is rare and reported in `errors`).
    const expectedEmail = emailTargets.slice(0, expectedA).filter(Boolean).length;
    const expectedOf = (a: Arrivals) => (a === smtp.arrivals ? expectedEmail : expectedA);
    while (performance.now() < deadlineA && Object.values(sinks).some((a) => a.count < expectedOf(a))) {
      await sleep(250);
      const secs = (performance.now() - quietEndPerf) / 1000;
      if (Math.floor(secs * 4) % 12 === 0)
        log(
          `  a +${secs.toFixed(0)}s: push ${push.arrivals.count}, sms ${sms.arrivals.count}, email ${smtp.arrivals.count} of ${expectedA}/${expectedA}/${expectedEmail}`,
        );
    }
    const endA = performance.now();
    const cpuDrain = cpuA();
    const cpuSecsA = clusterCpuSeconds() - cpuSecsA0;
    const countersA = delta(countersA0, await senders());
    await stopProbeA();
    const sendsA = {
      push: drainRate(push.arrivals, quietEndPerf, expectedA, endA),
      sms: drainRate(sms.arrivals, quietEndPerf, expectedA, endA),
      email: drainRate(smtp.arrivals, quietEndPerf, expectedEmail, endA),
    };
    log(
      `a: sends/s push ${sendsA.push.sends_per_s}, sms ${sendsA.sms.sends_per_s}, email ${sendsA.email.sends_per_s}; sent ${sendsA.push.sent}/${sendsA.sms.sent}/${sendsA.email.sent} of ${expectedA}/${expectedA}/${expectedEmail} (+ duplicates ${push.arrivals.duplicates}/${sms.arrivals.duplicates}/${smtp.arrivals.duplicates}); senders ${JSON.stringify(countersA)}; sent before T: ${JSON.stringify(leak)}; cpu ${JSON.stringify(cpuDrain)}`,
    );

    // ---- b. In-app latency with a fast, then a slow push provider.
    const recipients = Array.from({ length: o.recipients }, (_, i) => `r-${i}`);
    type Phase = { t0: number; t1: number; lat: LatencyRecorder };
    const phases: Phase[] = [];
    subscribers = new Subscribers((intended, ms) => {
      for (const p of phases) if (intended >= p.t0 && intended < p.t1) p.lat.record(ms);
    });
    await subscribers.subscribe(c.info.ws, recipients, (u) => auth.sign(u, 'user', 3600), log);
    log(`b: ${recipients.length} subscribers subscribed`);
    const producerSockets = Math.max(o.producers, Math.ceil(o.rate / o.frameEvents / 100));
    const runPhase = async (name: string, slowMs: number, seconds = o.durationS) => {
      push.delayMs = slowMs;
      for (const a of Object.values(sinks)) a.reset();
      push.maxInFlight = 0;
      const loop = new OpenLoop({
        rate: o.rate,
        frameEvents: o.frameEvents,
        makeEvent: (seq, id) => ({ id, type: 'follow', actor: fans[(seq * 7919) % fans.length], target: recipients[seq % recipients.length] }),
      });
      sockets.push(...(await loop.connect(c.info.ws, (p) => auth.sign(`producer-${name}${p}`, 'producer', 3600), producerSockets)));
      const phase: Phase = { t0: performance.now(), t1: Infinity, lat: new LatencyRecorder() };
      phases.push(phase);
      const delivered0 = subscribers!.delivered;
      const counters0 = await senders();
      const cpu = cpuMeter(pids);
      const stopProbe = probeWindow(`b-${name}`);
      const t0 = performance.now();
      loop.start(seconds * 1000);
      const progress = setInterval(
        () =>
          log(
            `  ${name} +${((performance.now() - t0) / 1000).toFixed(0)}s: offered ${loop.seq}, acked ${loop.acked}, delivered ${subscribers!.delivered - delivered0}; push ${push.arrivals.count}, sms ${sms.arrivals.count}, email ${smtp.arrivals.count}`,
          ),
        2000,
      );
      await loop.finished();
      const sendSecs = (performance.now() - t0) / 1000;
      phase.t1 = performance.now();
      const sent = { push: push.arrivals.count, sms: sms.arrivals.count, email: smtp.arrivals.count };
      const drainUntil = performance.now() + 10_000;
      while ((loop.inFlight > 0 || subscribers!.delivered - delivered0 < loop.seq) && performance.now() < drainUntil) await sleep(20);
      clearInterval(progress);
      const cpuPhase = cpu();
      await stopProbe();
      const missing = loop.seq - (subscribers!.delivered - delivered0);
      const counters = delta(counters0, await senders());
      const result = {
        push_provider_ms: slowMs,
        offered_per_s: o.rate,
        achieved_offered_per_s: Math.round(loop.seq / sendSecs),
        ...phase.lat.summary(),
        missing,
        ack_p99_ms: round(loop.ackLatency.percentile(99)),
        rejected: loop.rejected,
        sender_max_lag_ms: round(loop.maxLagMs),
        // Provider requests completed while the events were offered (per second), by channel.
        sends_per_s_during: { push: Math.round(sent.push / sendSecs), sms: Math.round(sent.sms / sendSecs), email: Math.round(sent.email / sendSecs) },
        push_in_flight_max: push.maxInFlight,
        sender_counters: counters,
        duplicate_sends: { push: push.arrivals.duplicates, sms: sms.arrivals.duplicates, email: smtp.arrivals.duplicates },
        cpu_cores: cpuPhase,
      };
      log(
        `b ${name}: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, p99.9 ${result.p999_ms} ms, max ${result.max_ms} ms, missing ${missing}; sends/s during ${JSON.stringify(result.sends_per_s_during)}; cpu ${JSON.stringify(cpuPhase)}`,
      );
      loop.close();
      return { result, loop };
    };
    // Baseline: the recipients have no device, phone or address yet: no sends at all, the in-app path alone.
    if (o.baseline) await runPhase('warmup', 0, 3);
    const baseline = o.baseline ? await runPhase('no-sends', 0) : undefined;
    await putSettings(recipients);
    const fast = await runPhase('fast', 0);
    // The fast phase's sends drain (bounded) so the slow phase starts with empty queues.
    const backlogUntil = performance.now() + 20_000;
    const expectedB = (a: Arrivals, seq: number) => (a === smtp.arrivals ? Math.ceil(seq / o.emailEvery) : seq);
    while (performance.now() < backlogUntil && Object.values(sinks).some((a) => a.count < expectedB(a, fast.loop.seq))) await sleep(100);
    const fastSms = lagSummary(sms.arrivals);
    const fastBacklog = {
      push: fast.loop.seq - push.arrivals.count,
      sms: fast.loop.seq - sms.arrivals.count,
      email: expectedB(smtp.arrivals, fast.loop.seq) - smtp.arrivals.count,
    };
    log(`b fast: sends left after a 20 s drain ${JSON.stringify(fastBacklog)}; sms queue lag p99 ${fastSms.p99_ms} ms`);
    const slow = await runPhase('slow', o.slowMs);
    await sleep(2000);
    const slowSms = lagSummary(sms.arrivals);
    const slowPushLag = lagSummary(push.arrivals);
    log(`b slow: sms queue lag p99 ${slowSms.p99_ms} ms (fast: ${fastSms.p99_ms}); push completed ${push.arrivals.count} of ${slow.loop.seq}`);

    const ratio = (fast.result.p99_ms ?? NaN) > 0 ? (slow.result.p99_ms ?? NaN) / (fast.result.p99_ms ?? NaN) : NaN;
    const line = {
      bench: 'delivery',
      sends_per_s: { push: sendsA.push.sends_per_s, sms: sendsA.sms.sends_per_s, email: sendsA.email.sends_per_s },
      inapp_p99_no_sends_ms: baseline?.result.p99_ms ?? null,
      inapp_p99_fast_ms: fast.result.p99_ms,
      inapp_p99_slow_ms: slow.result.p99_ms,
      inapp_p99_slow_over_fast: round(ratio),
      floors: {
        slow_over_fast_max: FLOOR_SLOW_OVER_FAST,
        met: Number.isFinite(ratio) && ratio <= FLOOR_SLOW_OVER_FAST && fast.result.missing === 0 && slow.result.missing === 0,
      },
      raw_http_posts_per_s: Math.round(rawHttp.per_s),
      raw_smtp_emails_per_s: Math.round(rawSmtp.per_s),
      ratios: {
        // Cluster CPU per send ÷ the raw clients' CPU per send, for the same mix of webhooks and emails.
        cpu_per_send_vs_raw: round(
          (cpuSecsA * 1000) /
            Math.max(1, sendsA.push.sent + sendsA.sms.sent + sendsA.email.sent) /
            ((rawHttp.cpu_ms_per_send * (sendsA.push.sent + sendsA.sms.sent) + rawSmtp.cpu_ms_per_send * sendsA.email.sent) /
              Math.max(1, sendsA.push.sent + sendsA.sms.sent + sendsA.email.sent)),
          2,
        ),
        push_vs_raw_http: round(sendsA.push.sends_per_s / rawHttp.per_s, 3),
        sms_vs_raw_http: round(sendsA.sms.sends_per_s / rawHttp.per_s, 3),
        email_vs_raw_smtp: round(sendsA.email.sends_per_s / rawSmtp.per_s, 3),
      },
      throughput: {
        users: o.usersA,
        events_published: expectedA,
        publish_per_s: Math.round(published.acked / published.secs),
        sent_before_quiet_end: leak,
        ...sendsA,
        sender_counters: countersA,
        // CPU of the gateway and the nodes per completed send while draining (nothing else ran in the cluster).
        cluster_cpu_ms_per_send: round((cpuSecsA * 1000) / Math.max(1, sendsA.push.sent + sendsA.sms.sent + sendsA.email.sent), 3),
        cpu_cores: cpuDrain,
      },
      inapp_no_sends: baseline?.result ?? null,
      inapp_fast: { ...fast.result, sms_queue_lag: fastSms, backlog_after_20s: fastBacklog },
      inapp_slow: { ...slow.result, sms_queue_lag: slowSms, push_queue_lag: slowPushLag, push_completed: push.arrivals.count },
      subscriber_gaps: subscribers.gaps,
      subscriber_closes: subscribers.closes,
      bad_signatures: push.arrivals.badSignature + sms.arrivals.badSignature,
      config: {
        nodes: o.nodes,
        sender: config.sender,
        pushCap: config.pushCap,
        email_max_connections: o.emailConnections,
        email_every: o.emailEvery,
        push_timeout_ms: 5000,
        recipients: o.recipients,
        fans: o.fans,
        frame_events: o.frameEvents,
        duration_s: o.durationS,
      },
      raw: { http: { ...rawHttp, in_flight: workers }, smtp: { ...rawSmtp, connections: o.nodes * o.emailConnections, in_flight: workers } },
      machine_busy_cores_before: round(idleLoad),
      nproc: availableParallelism(),
      node: process.version,
      commit: gitCommit(),
      bench_seconds: round((performance.now() - started) / 1000, 1),
    };
    printResult(line);
  } catch (err) {
    logClusterTail(cluster, log);
    throw err;
  } finally {
    subscribers?.close();
    for (const s of sockets) s.terminate();
    if (cluster) {
      const code = await cluster.stop('SIGTERM', 10_000);
      log(`cluster stopped (exit ${code})`);
    }
    await Promise.all([push.stop(), sms.stop(), smtp.stop()]);
    dropDataDir(dataDir, o.keepData, log);
  }
}

/** Publishes `total` events in frames of 100 over 4 sockets, 4 frames in flight each, until acked or `untilPerf`. */
async function publishClosedLoop(url: string, token: (p: number) => string, total: number, untilPerf: number, make: (seq: number) => object) {
  const SOCKETS = 4;
  const INFLIGHT = 4;
  const FRAME = 100;
  const errors: Record<string, number> = {};
  let next = 0;
  let acked = 0;
  let inflight = 0;
  let publishSeq = 0;
  const pending = new Map<string, number>();
  const clients: GatewayClient[] = [];
  let wake: () => void = () => undefined;
  const onMessage = (m: Msg) => {
    const count = m.id !== undefined ? pending.get(m.id) : undefined;
    if (count === undefined) return;
    pending.delete(m.id!);
    inflight--;
    if (m.op === 'ack') acked += count;
    else errors[m.code ?? '?'] = (errors[m.code ?? '?'] ?? 0) + count;
    wake();
  };
  for (let p = 0; p < SOCKETS; p++) clients.push(await GatewayClient.connect(url, token(p), onMessage));
  const t0 = performance.now();
  try {
    let k = 0;
    while ((next < total || inflight > 0) && performance.now() < untilPerf) {
      while (next < total && inflight < SOCKETS * INFLIGHT) {
        const events = [];
        for (let i = 0; i < FRAME && next < total; i++) events.push(make(next++));
        const id = `a${publishSeq++}`;
        pending.set(id, events.length);
        inflight++;
        clients[k++ % SOCKETS].send({ op: 'publish', id, events });
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  } finally {
    for (const c of clients) c.ws.close();
  }
  return { acked, secs: (performance.now() - t0) / 1000, errors };
}
