/**
 * V8 flags herald's processes run with. A larger young generation: the gateway and the nodes allocate a few KB
 * per event that die young, and with V8's default (16 MB semi-spaces) each process scavenged 3 times a second,
 * 7–11 ms per scavenge on 2 busy cores: a tail of the publish → delivery latency (docs/benchmarks.md).
 * `HERALD_V8_FLAGS` (space-separated) replaces them; an empty value runs with V8's defaults.
 */
export const V8_FLAGS: readonly string[] = (process.env.HERALD_V8_FLAGS ?? '--max-semi-space-size=32').split(' ').filter(Boolean);

/**
 * Makes the processes this one forks (comedy forks a node with the parent's `execArgv`) start with `V8_FLAGS`,
 * unless this process was started with its own value of a flag.
 */
export function inheritV8Flags(): void {
  for (const flag of V8_FLAGS) {
    const name = flag.split('=')[0];
    if (!process.execArgv.some((a) => a.split('=')[0] === name)) process.execArgv.push(flag);
  }
}
