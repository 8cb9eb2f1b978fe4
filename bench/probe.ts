import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { LatencyRecorder } from './LatencyRecorder';

/**
 * Diagnostics preloaded into the cluster's processes (gateway and forked nodes) by `triggered --profile DIR` or
 * `triggered --stages DIR` (NODE_OPTIONS=--require this file: Node refuses --cpu-prof in NODE_OPTIONS, and the
 * gateway forks its nodes itself). Nothing in herald changes; this only wraps a few methods from outside.
 *
 * The bench sends SIGUSR2 when the measured phase starts and again when it ends; at the second signal each process
 * writes DIR/<role>-<pid>.cpuprofile (profile mode: V8 CPU profile) or DIR/<role>-<pid>.stages.json (stages mode:
 * wall time of each pipeline stage, batch sizes, event-loop delay).
 */
const dir = process.env.HERALD_BENCH_PROBE_DIR;
const mode = process.env.HERALD_BENCH_PROBE;
const role = process.argv[1]?.endsWith('cluster.js') ? 'gateway' : 'node';
const dist = join(__dirname, '..');

if (dir && mode === 'profile') {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}

if (dir && mode === 'stages') {
  let on = false;
  const recorders = new Map<string, LatencyRecorder>();
  const rec = (name: string, v: number) => {
    if (!on) return;
    let r = recorders.get(name);
    if (!r) recorders.set(name, (r = new LatencyRecorder()));
    r.record(v);
  };
  /** Wraps an async method: records its wall time (ms) under `name`, and `size(args)` under `name.size`. */
  const timeAsync = (proto: any, method: string, name: (self: any, args: any[]) => string, size?: (self: any, args: any[]) => number) => {
    const orig = proto?.[method];
    if (typeof orig !== 'function') return; // herald moved on: probe what is still there
    proto[method] = function (this: unknown, ...args: any[]) {
      const t0 = performance.now();
      let n = 'unknown';
      try {
        n = name(this, args);
        if (size) rec(`${n}.size`, size(this, args));
      } catch {
        /* a changed signature must never break herald */
      }
      const out = orig.apply(this, args);
      Promise.resolve(out).then(
        () => rec(n, performance.now() - t0),
        () => rec(`${n}.failed`, performance.now() - t0),
      );
      return out;
    };
  };
  const load = (rel: string) => {
    try {
      return require(join(dist, rel));
    } catch {
      return {};
    }
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  // GC pauses by kind (V8's scavenges and mark-compacts stop the event loop: one source of latency tails).
  const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) rec(`gc.${GC_KINDS[(e as any).detail?.kind] ?? 'other'}`, e.duration);
  }).observe({ entryTypes: ['gc'] });

  // Gateway: a publish end to end, one call to a node (queued in comedy, over IPC, handled, back), batches formed.
  timeAsync(load('gateway/Router.js').Router?.prototype, 'publish', () => 'gw.publish', (_s, [events]) => events.length);
  timeAsync(load('cluster/NodeRef.js').NodeRef?.prototype, 'call', (_s, [op]) => `gw.call.${op}`, (_s, [op, a]) => (op === 'ingest' ? a.items.length : 0));
  // Node: an ingest (log write, every mailbox task, effects written), each group-commit write as its caller waits.
  timeAsync(load('actors/NodeActor.js').NodeActor?.prototype, 'ingest', () => 'node.ingest', (_s, [b]) => b.items.length);
  timeAsync(load('storage/GroupCommit.js').GroupCommit?.prototype, 'write', (s) => (s.sync ? 'node.write.synced' : 'node.write.unsynced'));
  timeAsync(load('storage/GroupCommit.js').GroupCommit?.prototype, 'flush', (s) => (s.sync ? 'node.batch.synced' : 'node.batch.unsynced'), (s) => s.pending.length);
  const Mailbox = load('actors/Mailbox.js').Mailbox ?? { prototype: {} };
  const post = Mailbox.prototype.post;
  if (typeof post === 'function') Mailbox.prototype.post = function (this: { size: number }, task: () => unknown) {
    rec('node.mailbox.depth_at_post', this.size);
    const queued = performance.now();
    return post.call(this, () => {
      rec('node.mailbox.wait', performance.now() - queued);
      return task();
    });
  };

  process.on('SIGUSR2', () => {
    if (!on) {
      on = true;
      delay.enable();
      return;
    }
    on = false;
    delay.disable();
    const out: Record<string, object> = {};
    for (const [name, r] of [...recorders].sort()) {
      out[name] = { n: r.count, mean: r.mean, p50: r.percentile(50), p99: r.percentile(99), max: r.max };
    }
    out['loop.delay'] = { mean: delay.mean / 1e6, p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
    writeFileSync(join(dir, `${role}-${process.pid}.stages.json`), JSON.stringify(out));
  });
}
