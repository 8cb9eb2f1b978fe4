import { stat, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { readEnvironment } from '../core/config/environment';
import { LatencyRecorder } from './harness/LatencyRecorder';

/**
 * Diagnostics preloaded into the cluster's processes (gateway and forked nodes) by `triggered --profile DIR` or
 * `triggered --stages DIR` (NODE_OPTIONS=--require this file: Node refuses --cpu-prof in NODE_OPTIONS, and the
 * gateway forks its nodes itself). Nothing in herald changes; this only wraps a few methods from outside.
 *
 * The bench sends SIGUSR2 when the measured phase starts and again when it ends; at the second signal each process
 * writes DIR/<role>-<pid>.cpuprofile (profile mode: V8 CPU profile) or DIR/<role>-<pid>.stages.json (stages mode:
 * wall time of each pipeline stage, batch sizes, event-loop delay).
 */
const { HERALD_BENCH_PROBE_DIR: dir, HERALD_BENCH_PROBE: mode } = readEnvironment();
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
  const delay = monitorEventLoopDelay({ resolution: 1 });
  // GC pauses by kind (V8's scavenges and mark-compacts stop the event loop: one source of latency tails).
  const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) rec(`gc.${GC_KINDS[(e as any).detail?.kind] ?? 'other'}`, e.duration);
  }).observe({ entryTypes: ['gc'] });

  // Gateway: a publish end to end, one call to a node (queued in comedy, over IPC, handled, back), batches formed.
  timeAsync(
    load('gateway/Router.js').Router?.prototype,
    'publish',
    () => 'gw.publish',
    (_s, [events]) => events.length,
  );
  timeAsync(
    load('cluster/NodeRef.js').NodeRef?.prototype,
    'call',
    (_s, [op]) => `gw.call.${op}`,
    (_s, [op, a]) => (op === 'ingest' && Array.isArray(a.items) ? a.items.length : 0),
  );
  // Node: an ingest (log write, every mailbox task, effects written), each group-commit write as its caller waits.
  timeAsync(
    load('actors/node/NodeActor.js').NodeActor?.prototype,
    'ingest',
    () => 'node.ingest',
    (_s, [b]) => b.items.length,
  );
  timeAsync(load('storage/GroupCommit.js').GroupCommit?.prototype, 'write', (s) => (s.sync ? 'node.write.synced' : 'node.write.unsynced'));
  timeAsync(
    load('storage/GroupCommit.js').GroupCommit?.prototype,
    'flush',
    (s) => (s.sync ? 'node.batch.synced' : 'node.batch.unsynced'),
    (s) => s.pending.length,
  );
  const Mailbox = load('actors/user/Mailbox.js').Mailbox ?? { prototype: {} };
  const post = Mailbox.prototype.post;
  if (typeof post === 'function')
    Mailbox.prototype.post = function (this: { size: number }, task: () => unknown) {
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

if (dir && mode === 'trace') {
  // Time series, one row per 250 ms (wall clock, to line up processes and the bench's latencies): event-loop delay,
  // a libuv-threadpool round trip (an fs.stat queued every 10 ms: it waits behind LevelDB's reads and writes,
  // which run on the same 4 threads), CPU, the store's level-0 files and its slowest fsynced group-commit write.
  // On from the start (node-4 is forked mid-run); each SIGUSR2 writes what was sampled so far.
  const on = true;
  const rows: object[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const dbs: any[] = [];
  const NodeStore = load('storage/NodeStore.js').NodeStore;
  const open = NodeStore?.open;
  if (typeof open === 'function')
    NodeStore.open = async function (...args: any[]) {
      const store = await open.apply(this, args);
      dbs.push(store.db);
      return store;
    };
  const GroupCommit = load('storage/GroupCommit.js').GroupCommit;
  let writeMax = { synced: 0, unsynced: 0 };
  const flush = GroupCommit?.prototype.flush;
  if (typeof flush === 'function')
    GroupCommit.prototype.flush = function (this: { sync: boolean }, ...args: any[]) {
      const t0 = performance.now();
      const out = flush.apply(this, args);
      const k = this.sync ? 'synced' : 'unsynced';
      Promise.resolve(out).then(() => (writeMax[k] = Math.max(writeMax[k], performance.now() - t0)));
      return out;
    };
  // Spans of the move's steps (gateway: each shard's move; nodes: begin, freeze, delta, persist, drop).
  const spans: object[] = [];
  const span = (proto: any, method: string, label: string) => {
    const orig = proto?.[method];
    if (typeof orig !== 'function') return;
    proto[method] = function (this: unknown, ...args: any[]) {
      const t0 = Date.now();
      const out = orig.apply(this, args);
      const end = (ok: boolean) => spans.push({ what: label, shard: typeof args[0] === 'number' ? args[0] : undefined, t0, t1: Date.now(), ok });
      Promise.resolve(out).then(
        () => end(true),
        () => end(false),
      );
      return out;
    };
  };
  span(load('cluster/Coordinator.js').Coordinator?.prototype, 'move', 'move');
  const Handoff = load('actors/node/ShardHandoff.js').ShardHandoff?.prototype;
  for (const m of ['begin', 'freeze', 'delta', 'drop']) span(Handoff, m, m);
  span(load('storage/ShardRange.js').ShardRange?.prototype, 'persist', 'persist');
  let gc = { max: 0, sum: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc = { max: Math.max(gc.max, e.duration), sum: gc.sum + e.duration };
  }).observe({ entryTypes: ['gc'] });
  let poolMax = 0;
  let poolN = 0;
  const poolProbe = setInterval(() => {
    if (!on) return;
    const t0 = performance.now();
    stat(__filename, () => {
      poolMax = Math.max(poolMax, performance.now() - t0);
      poolN++;
    });
  }, 10);
  poolProbe.unref();
  let cpu = process.cpuUsage();
  const tick = setInterval(() => {
    if (!on) return;
    const c = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const prop = (name: string) => {
      try {
        return dbs.length ? Number(dbs[0].getProperty(name)) : null;
      } catch {
        return null;
      }
    };
    rows.push({
      t: Date.now(),
      loop_max: round1(delay.max / 1e6),
      loop_p99: round1(delay.percentile(99) / 1e6),
      pool_max: round1(poolMax),
      pool_n: poolN,
      cpu: round1((c.user + c.system) / 1000 / 250),
      l0: prop('leveldb.num-files-at-level0'),
      w_sync_max: round1(writeMax.synced),
      w_unsync_max: round1(writeMax.unsynced),
      gc_max: round1(gc.max),
      gc_sum: round1(gc.sum),
      heap_mb: Math.round(process.memoryUsage().heapUsed / 1e6),
    });
    gc = { max: 0, sum: 0 };
    delay.reset();
    poolMax = 0;
    poolN = 0;
    writeMax = { synced: 0, unsynced: 0 };
  }, 250);
  tick.unref();
  delay.enable();
  process.on('SIGUSR2', () => {
    const stats = dbs.length ? String(dbs[0].getProperty('leveldb.stats')) : '';
    writeFileSync(join(dir, `${role}-${process.pid}.trace.json`), JSON.stringify({ rows, spans, stats }));
  });
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

function load(rel: string): any {
  try {
    // A module of the build, by a path known only at run time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(join(dist, rel));
  } catch {
    return {};
  }
}
