import { main as delivery } from './delivery';
import { runMain, type BenchMain } from './harness/main';
import { main as fanout } from './fanout';
import { main as nodeIngest } from './nodeIngest';
import { main as rebalance } from './rebalance';
import { main as redis } from './redis';
import { main as spike } from './spike';
import { main as transport } from './transport';
import { main as triggered } from './triggered';

/**
 * Benchmark dispatcher: `npm run bench -- <name> [options]` (or `node dist/bench/run.js <name> [options]`).
 * Progress goes to stderr; the last line on stdout is one JSON object with every figure (docs/benchmarks.md).
 */
const BENCHES: Record<string, { about: string; run: BenchMain }> = {
  rebalance: {
    about:
      '1,000,000 imported users, 3 -> 4 nodes under a 500/s triggered load: seconds, keys/s, MB/s, share moved, p99 during the move, raw LevelDB scan+write',
    run: rebalance,
  },
  fanout: {
    about:
      'one celebrity tweet to 1,000,000 imported followers under a like load: followers decided/s, publish -> done, triggered p99 during, peak RSS, vs a per-follower request/response baseline',
    run: fanout,
  },
  delivery: {
    about: 'push/SMS/email through the queues to local providers: sends/s per channel, in-app p99 with a fast vs a 500 ms push provider, raw POST/SMTP limits',
    run: delivery,
  },
  triggered: {
    about: 'like events -> durable ack -> live notification at 200 subscribers: throughput, latency at 5k/s, raw limits',
    run: triggered,
  },
  spike: {
    about: 'scenario replay (bench/scenarios/spike.json): steady, 25x spike, celebrity tweets; CO-safe latency, queues, recovery, limits, Redis',
    run: spike,
  },
  transport: {
    about: 'the gateway -> node call path alone: CPU per call on each side and wall time, over the direct link vs over comedy, for ingest-shaped batches',
    run: transport,
  },
  'node-ingest': {
    about: "a node alone, in process: NodeActor.ingest of like events (both owners' work), CPU per event",
    run: nodeIngest,
  },
  redis: {
    about: 'timeline appends side by side: redis-server (pipelined LPUSH+LTRIM) vs herald in process and through the gateway',
    run: redis,
  },
};

function usage(): string {
  const lines = Object.entries(BENCHES).map(([name, b]) => `  ${name.padEnd(12)} ${b.about}`);
  return `Usage: npm run bench -- <name> [options]\n\nBenchmarks:\n${lines.join('\n')}\n\nSee docs/benchmarks.md for the options of each.`;
}

/** Runs the benchmark named by the first argument with the rest; the usage for none, an unknown one or --help. */
async function main(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    if (name && name !== '-h' && name !== '--help') console.error(`unknown benchmark: ${name}\n`);
    console.error(usage());
    process.exit(name === '-h' || name === '--help' ? 0 : 2);
  }
  await bench.run(rest);
}

runMain(main);
