import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ClusterProcess } from '../scripts/ClusterProcess';

/** CPU accounting of a benchmark run (moved here from bench/triggered.ts so that every benchmark shares it). */

const round = (n: number, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user+sys) of a process, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat; NaN elsewhere. */
export function hostBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return (total - f[3] - f[4]) / 100;
  } catch {
    return NaN;
  }
}

/**
 * CPU use over a phase, in cores (1 = one core busy all the time), by role from `cpuByRole` (CPU seconds so far;
 * a role that appears later counts from 0), the whole machine, and `other` = machine minus ours. `other` well
 * above 0 means something else was running and the figures of this run are not clean.
 */
export function cpuMeterOf(cpuByRole: () => Record<string, number>) {
  const start = cpuByRole();
  const host0 = hostBusySeconds();
  const t0 = performance.now();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const out: Record<string, number | null> = {};
    let ours = 0;
    for (const [k, v] of Object.entries(cpuByRole())) {
      const used = v - (start[k] ?? 0);
      if (Number.isFinite(used)) ours += used;
      out[k] = round(used / secs);
    }
    const host = hostBusySeconds() - host0;
    out.machine = round(host / secs);
    out.other = round(Math.max(0, host - ours) / secs);
    return out;
  };
}

/** `cpuMeterOf` named processes (`pids()` is asked again at the end: a node added meanwhile counts). */
export function cpuMeter(pids: () => Record<string, number>) {
  return cpuMeterOf(() => Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, cpuSeconds(pid)])));
}

/** `cpuMeter` of a cluster's gateway and nodes, and this process. */
export function clusterCpuMeter(cluster: ClusterProcess) {
  return cpuMeter(() => ({ gateway: cluster.pid, ...cluster.info.nodes, bench: process.pid }));
}

/** Machine CPU busy over `ms`, in cores: to warn when the run does not have the machine to itself. */
export async function hostLoad(ms: number): Promise<number> {
  const b0 = hostBusySeconds();
  await sleep(ms);
  return (hostBusySeconds() - b0) / (ms / 1000);
}
