import { rmSync } from 'node:fs';
import type { IngestItem } from '../core/nodeProtocol';
import { ActorRuntime } from '../cluster/ActorRuntime';
import type { NodeRef } from '../cluster/NodeRef';
import { DEFAULT_CONFIG, loadConfig, nodeParamsOf } from '../core/config';
import { createLogger } from '../core/logger';
import { parseOptions } from './harness/args';
import { tempDataDir } from './harness/dataDir';
import { printResult, progressLog } from './harness/main';
import { cpuSeconds } from './harness/procfs';
import { hostLoad } from './harness/sampler';

/**
 * `npm run bench -- transport`: what the gateway → node call path alone costs, in CPU on each side and in wall
 * time, over a node's direct link (how every call goes) and over comedy (the fallback before a link is up; how
 * every call went before). One real node process; each call carries an ingest-shaped batch of N like events
 * that the node echoes back (bench-only op `echo`), so the reply is as large as the request.
 */
const USAGE = 'Usage: npm run bench -- transport [--events N,N,...] [--calls N] [--inflight N] [--rounds N]';

interface Options {
  events: number[];
  calls: number;
  inflight: number;
  rounds: number;
}

const OPTIONS = {
  events: { type: 'numbers', default: [30, 300], above: 0 },
  calls: { type: 'number', default: 400, above: 0 },
  inflight: { type: 'number', default: 4, above: 0 },
  rounds: { type: 'number', default: 3, above: 0 },
} as const;

function options(args: string[]): Options {
  return parseOptions(args, OPTIONS, { usage: USAGE }).values;
}

const log = progressLog('transport');

/** A batch as NodeChannel sends it: N likes, each with the user it touches on the node. */
function batch(n: number, k: number): { epoch: number; items: IngestItem[] } {
  const ts = Date.now();
  return {
    epoch: 1,
    items: Array.from({ length: n }, (_, i) => ({
      event: {
        id: `like-${k}-${i}`,
        type: 'like',
        actor: `user${i % 997}`,
        ts,
        tweet: { id: `tw-${k}-${i}`, author: `author${i % 200}`, entities: ['topic'] },
      },
      users: [`author${i % 200}`],
    })) as IngestItem[],
  };
}

/** Runs `calls` echo calls, `inflight` at a time; CPU of this process and of the node per call, and wall time. */
async function measure(ref: NodeRef, path: 'link' | 'comedy', n: number, o: Options) {
  const call = (args: unknown) => ref.callBench('echo', args, 30_000, path);
  for (let i = 0; i < 20; i++) await call(batch(n, i)); // warm up both ends
  const batches = Array.from({ length: o.calls }, (_, i) => batch(n, i));
  const node0 = cpuSeconds(ref.pid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const walls: number[] = [];
  await Promise.all(
    Array.from({ length: o.inflight }, async () => {
      while (next < o.calls) {
        const b = batches[next++];
        const t = performance.now();
        await call(b);
        walls.push(performance.now() - t);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const gatewayUs = (self.user + self.system) / o.calls;
  const nodeUs = ((cpuSeconds(ref.pid) - node0) * 1e6) / o.calls;
  walls.sort((a, b) => a - b);
  return {
    gateway_us_per_call: Math.round(gatewayUs),
    node_us_per_call: Math.round(nodeUs),
    gateway_us_per_event: +(gatewayUs / n).toFixed(2),
    node_us_per_event: +(nodeUs / n).toFixed(2),
    call_p50_ms: +walls[walls.length >> 1].toFixed(2),
    calls_per_s: Math.round(o.calls / secs),
  };
}

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  const dataDir = tempDataDir('transport');
  const busyBefore = await hostLoad(500);
  const runtime = await ActorRuntime.start({ callTimeoutMs: 30_000, linkMaxFrame: DEFAULT_CONFIG.linkMaxFrame }, createLogger('bench', 'warn'), {
    fromNode: () => undefined,
    onNewProcess: () => undefined,
  });
  let ref: NodeRef | undefined;
  try {
    ref = await runtime.spawn(
      { id: 'node-1' },
      { ...nodeParamsOf(loadConfig({ dataDir, syncWrites: false, logLevel: 'warn' }), 'node-1', 16), benchOps: true },
    );
    if (!ref.linked) throw new Error('the node link did not come up');
    const results: Record<string, unknown> = {};
    for (const n of o.events) {
      // Rounds alternate the two paths so that load from elsewhere hits both alike; the best round of each counts.
      const best: Record<string, Awaited<ReturnType<typeof measure>>> = {};
      for (let r = 0; r < o.rounds; r++) {
        for (const path of ['comedy', 'link'] as const) {
          const m = await measure(ref, path, n, o);
          log(`${n} events/call, ${path}: ${JSON.stringify(m)}`);
          const cpu = (x: typeof m) => x.gateway_us_per_call + x.node_us_per_call;
          if (!best[path] || cpu(m) < cpu(best[path])) best[path] = m;
        }
      }
      results[`events_${n}`] = {
        ...best,
        link_vs_comedy_gateway_cpu: +(best.link.gateway_us_per_call / best.comedy.gateway_us_per_call).toFixed(2),
        link_vs_comedy_node_cpu: +(best.link.node_us_per_call / best.comedy.node_us_per_call).toFixed(2),
      };
    }
    const busyAfter = await hostLoad(500);
    printResult({
      bench: 'transport',
      calls: o.calls,
      inflight: o.inflight,
      rounds: o.rounds,
      ...results,
      machine_busy_cores_before: +busyBefore.toFixed(2),
      machine_busy_cores_after: +busyAfter.toFixed(2),
    });
  } finally {
    await runtime.stop(ref ? [ref.pid] : []);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
