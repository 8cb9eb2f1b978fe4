import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readEnvironment } from '../../core/config/environment';
import { sleep } from './sleep';

/**
 * Diagnostics of the cluster's processes through bench/probe.ts (preloaded with NODE_OPTIONS=--require, it is not
 * part of herald): `env` for ClusterProcess.start, then `window(name, pids)` around a phase: SIGUSR2 starts the
 * probe in every process, the second SIGUSR2 makes each write its file (V8 CPU profile, or stage timings and
 * event-loop delay), moved into DIR/<name>/.
 */
export class Probe {
  constructor(
    readonly mode: 'profile' | 'stages' | 'trace',
    readonly dir: string,
  ) {}

  /** The probe the options ask for (`--profile DIR`, `--stages DIR` or `--trace DIR`, first given wins), if any. */
  static from(profileDir: string | undefined, stagesDir: string | undefined, traceDir?: string): Probe | undefined {
    if (profileDir) return new Probe('profile', profileDir);
    if (stagesDir) return new Probe('stages', stagesDir);
    if (traceDir) return new Probe('trace', traceDir);
    return undefined;
  }

  /** Sends SIGUSR2 to each process (a probe starts, or stops and writes its file); a process gone is skipped. */
  static signal(pids: number[]): void {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGUSR2');
      } catch {
        /* gone */
      }
    }
  }

  /** The environment that preloads the probe into the cluster's processes; creates DIR. */
  env(): NodeJS.ProcessEnv {
    mkdirSync(this.dir, { recursive: true });
    return {
      // dist/bench/harness -> dist/bench/probe.js
      NODE_OPTIONS: `${readEnvironment().NODE_OPTIONS ?? ''} --require ${join(__dirname, '..', 'probe.js')}`.trim(),
      HERALD_BENCH_PROBE: this.mode,
      HERALD_BENCH_PROBE_DIR: resolve(this.dir),
    };
  }

  /** Starts the probes; the returned function stops them and files their output under DIR/<name>/. */
  window(name: string, pids: number[]): () => Promise<string> {
    Probe.signal(pids);
    return async () => {
      Probe.signal(pids);
      await sleep(1500);
      const out = join(this.dir, name);
      mkdirSync(out, { recursive: true });
      for (const f of readdirSync(this.dir)) if (/\.(cpuprofile|stages\.json|trace\.json)$/.test(f)) renameSync(join(this.dir, f), join(out, f));
      return out;
    };
  }
}
