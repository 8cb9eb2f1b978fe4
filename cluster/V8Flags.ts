import { readEnvironment } from '../core/config/environment';

/**
 * V8 flags herald's processes run with (docs/benchmarks.md, fifth and sixth sessions):
 * - a larger young generation: the gateway and the nodes allocate a few KB per event that die young, and with
 *   V8's default (16 MB semi-spaces) each process scavenged 3 times a second, 7–11 ms per scavenge on 2 busy
 *   cores: a tail of the publish → delivery latency;
 * - an old generation that may reach 128 MB before V8 marks it. V8 starts incremental marking once the room left
 *   under its old-generation limit is less than the young generation's size; with a live heap of ~20 MB its limit
 *   sat at ~56 MB, so the gateway marked and compacted every 1–3 s (10–25 ms of pauses and marking steps each) at
 *   5,000 events/s. With the floor, no process marked in a 90 s run at that rate. The cost is memory: up to ~128 MB of
 *   garbage per process before it is collected (like a JVM's -Xms).
 * They are the default of `HERALD_V8_FLAGS` (core/config/environment.ts), which replaces them; an empty value runs
 * with V8's defaults.
 */
export function v8Flags(): string[] {
  return readEnvironment().HERALD_V8_FLAGS.split(' ').filter(Boolean);
}

/**
 * Makes the processes this one forks (comedy forks a node with the parent's `execArgv`) start with `v8Flags()`,
 * unless this process was started with its own value of a flag.
 */
export function inheritV8Flags(): void {
  for (const flag of v8Flags()) {
    const name = flag.split('=')[0];
    if (!process.execArgv.some((a) => a.split('=')[0] === name)) process.execArgv.push(flag);
  }
}
