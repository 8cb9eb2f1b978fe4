import { performance } from 'node:perf_hooks';
import type { ClusterProcess } from '../../scripts/ClusterProcess';
import { cpuSeconds, hostBusySeconds, rssBytes } from './procfs';
import { round } from './round';
import { sleep } from './sleep';

/**
 * CPU and memory of a benchmark's processes (the gateway, the nodes, the bench itself) over a phase, by role, with
 * the whole machine beside them: what a figure cost, and whether something else was running meanwhile.
 */

/** CPU use by role in cores (1 = one core busy all the time), with `machine` and `other` (machine minus ours). */
export type CpuCores = Record<string, number | null>;

/**
 * CPU use over a phase, in cores, by role from `cpuByRole` (CPU seconds so far; a role that appears later counts
 * from 0), the whole machine, and `other` = machine minus ours. `other` well above 0 means something else was
 * running and the figures of this run are not clean. Call the returned function at the end of the phase.
 */
export function cpuMeterOf(cpuByRole: () => Record<string, number>): () => CpuCores {
  const start = cpuByRole();
  const host0 = hostBusySeconds();
  const t0 = performance.now();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const out: CpuCores = {};
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
export function cpuMeter(pids: () => Record<string, number>): () => CpuCores {
  return cpuMeterOf(() => Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, cpuSeconds(pid)])));
}

/** `cpuMeter` of a cluster's gateway and nodes, and this process. */
export function clusterCpuMeter(cluster: ClusterProcess): () => CpuCores {
  return cpuMeter(() => ({ gateway: cluster.pid, ...cluster.info.nodes, bench: process.pid }));
}

/** Machine CPU busy over `ms`, in cores: to warn when the run does not have the machine to itself. */
export async function hostLoad(ms: number): Promise<number> {
  const b0 = hostBusySeconds();
  await sleep(ms);
  return (hostBusySeconds() - b0) / (ms / 1000);
}

/**
 * The cluster's processes by role (gateway, node-1.., bench), following respawns (a node comedy respawned is
 * tracked under the same role): CPU seconds and peak VmRSS, sampled every `everyMs`.
 */
export class ProcessSampler {
  private readonly pids = new Map<number, { role: string; cpu0: number; cpu: number }>();
  private readonly peak: Record<string, number> = {};
  private readonly timer: NodeJS.Timeout;

  constructor(roles: Record<string, number>, everyMs = 100) {
    for (const [role, pid] of Object.entries(roles)) this.track(role, pid);
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** Adds a process under `role` (a respawned node's new pid under the node's role); a known pid is ignored. */
  track(role: string, pid: number | undefined): void {
    if (!pid || this.pids.has(pid)) return;
    const cpu = cpuSeconds(pid);
    this.pids.set(pid, { role, cpu0: cpu, cpu });
  }

  private sample(): void {
    for (const [pid, p] of this.pids) {
      const cpu = cpuSeconds(pid);
      if (Number.isFinite(cpu)) p.cpu = cpu;
      const rss = rssBytes(pid);
      if (Number.isFinite(rss) && rss > (this.peak[p.role] ?? 0)) this.peak[p.role] = rss;
    }
  }

  /** CPU seconds used since tracked, by role (a process that exited counts what it had used when last seen). */
  cpu(): Record<string, number> {
    this.sample();
    const out: Record<string, number> = {};
    for (const p of this.pids.values()) out[p.role] = (out[p.role] ?? 0) + (Number.isFinite(p.cpu - p.cpu0) ? p.cpu - p.cpu0 : 0);
    return out;
  }

  /** CPU seconds of the gateway and the nodes (every role but `bench`). */
  clusterCpu(): number {
    return Object.entries(this.cpu()).reduce((a, [role, s]) => (role === 'bench' ? a : a + s), 0);
  }

  /** Processes seen per role beyond the first: respawns. */
  restarts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.pids.values()) out[p.role] = (out[p.role] ?? -1) + 1;
    return Object.fromEntries(Object.entries(out).filter(([, n]) => n > 0));
  }

  /** Stops sampling; the peak RSS by role, MB. */
  stop(): Record<string, number | null> {
    clearInterval(this.timer);
    this.sample();
    return Object.fromEntries(Object.entries(this.peak).map(([k, b]) => [k, round(b / 2 ** 20, 1)]));
  }
}
