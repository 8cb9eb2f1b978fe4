import { readFileSync } from 'node:fs';

/**
 * Readings of Linux's /proc, the figures the process sampler is made of: CPU seconds and resident memory of one
 * process, busy CPU of the whole machine. NaN (or null) elsewhere than on Linux, or for a process that is gone.
 */

/** CPU seconds (user+sys) of a process, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number): number {
  try {
    const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** CPU time (µs) of this process's main thread, from /proc (Linux; NaN elsewhere): 100 ticks per second. */
export function mainThreadCpuUs(): number {
  try {
    const f = statFields(readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8'));
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return NaN;
  }
}

/** The parent of a process, from /proc (Linux); null when unknown. */
export function parentPid(pid: number): number | null {
  try {
    return Number(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[1]);
  } catch {
    return null;
  }
}

/** Resident memory (VmRSS, bytes) of a process, from /proc (Linux); NaN elsewhere. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
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

/** The fields of a /proc/<pid>/stat line after the command name (which may hold spaces and parentheses). */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
