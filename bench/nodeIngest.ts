import { rmSync } from 'node:fs';
import { involvedUsers, type HeraldEvent } from '../core/Event';
import { NodeActor } from '../actors/node/NodeActor';
import type { IngestItem } from '../core/nodeProtocol';
import { createLogger } from '../core/logger';
import { DEFAULT_CONFIG, defaultNodeOptions } from '../core/config';
import { NodeStore } from '../storage/NodeStore';
import { parseOptions } from './harness/args';
import { tempDataDir } from './harness/dataDir';
import { printResult } from './harness/main';
import { round } from './harness/round';
import { hostLoad } from './harness/sampler';

const OPTIONS = {
  events: { type: 'number', default: 60_000, min: 1, integer: true },
  batch: { type: 'number', default: 300, min: 1, integer: true },
  inflight: { type: 'number', default: 4, min: 1, integer: true },
  'no-sync': { type: 'boolean' },
} as const;

/**
 * `npm run bench -- node-ingest`: the node's own CPU per event, in this process, without gateway or transport.
 * One NodeActor owning every shard ingests `like` events as the triggered benchmark sends them (fan-N likes a
 * fresh tweet of r-(N mod 200)), so each event is both of its owners' work: the liker's engagement and profile,
 * and the recipient's timeline entry. A fixed number of events after a warm-up; CPU of the whole process (its
 * threads included: LevelDB, GC) per event. CPU per event is the figure: the machine may be busy.
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseOptions(args, OPTIONS);
  const { events: total, batch, inflight } = values;
  const busyBefore = await hostLoad(500);
  const dir = tempDataDir('node-ingest');
  const store = await NodeStore.open(dir, { syncWrites: !values['no-sync'], writeBufferMb: DEFAULT_CONFIG.writeBufferMb });
  const shardCount = 256;
  const node = new NodeActor(store, defaultNodeOptions('bench', shardCount), createLogger('bench', 'silent'));
  await node.start();
  node.setTable(
    1,
    Array.from({ length: shardCount }, (_, i) => i),
    Array.from({ length: shardCount }, () => 'bench'),
  );
  let seq = 0;
  const run = async (n: number) => {
    let left = n;
    const worker = async () => {
      while (left > 0) {
        left -= batch;
        const items: IngestItem[] = [];
        for (let i = 0; i < batch; i++) {
          const s = seq++;
          const r = `r-${s % 200}`;
          const event: HeraldEvent = {
            id: `E${s}`,
            type: 'like',
            actor: `fan-${s % 2000}`,
            tweet: { id: `t${s}`, author: r, text: 'b' },
            target: r,
            ts: Date.now(),
          };
          items.push({ event, users: involvedUsers(event) });
        }
        const res = await node.ingest({ epoch: 1, items });
        if (res.errors.some((e) => e !== null)) throw new Error(`ingest refused: ${res.errors.find((e) => e)}`);
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  };
  try {
    await run(batch * inflight * 12); // warm-up: actors active, key sets loaded
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run(total);
    const cpu = process.cpuUsage(cpu0);
    const secs = (performance.now() - t0) / 1000;
    printResult({
      bench: 'node-ingest',
      events: total,
      events_per_s: Math.round(total / secs),
      cpu_us_per_event: round((cpu.user + cpu.system) / total, 1),
      cpu_cores: round((cpu.user + cpu.system) / 1e6 / secs),
      sync_writes: !values['no-sync'],
      batch,
      inflight,
      machine_busy_cores_before: round(busyBefore),
      node: process.version,
    });
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
