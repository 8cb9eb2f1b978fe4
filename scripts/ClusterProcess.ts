import { spawn, type ChildProcess } from 'node:child_process';
import { v8Flags } from '../cluster/V8Flags';
import { join } from 'node:path';
import { childEnvironment, readEnvironment } from '../core/config/environment';
import { isAlive } from '../core/process';

export { isAlive };

export interface ClusterInfo {
  ws: string;
  http: string;
  demoToken: string;
  /** nodeId → pid of its process, as printed at start. */
  nodes: Record<string, number>;
}

/**
 * A cluster started as a real process (`node dist/scripts/cluster.js`), for tests and benchmarks: waits for the
 * banner, parses the URLs and node PIDs, and ends the process (and so its nodes) by PID.
 */
export class ClusterProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly info: ClusterInfo,
    private readonly stderr: string[],
  ) {}

  static start(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ClusterProcess> {
    // Run the compiled script, whether this module was loaded from dist/ or from source (tests).
    const script = __filename.endsWith('.ts') ? join(__dirname, '..', 'dist', 'scripts', 'cluster.js') : join(__dirname, 'cluster.js');
    const child = spawn(process.execPath, [...v8Flags(), script, ...args], {
      // Quiet unless the caller's environment asks for a log level.
      env: { ...childEnvironment({ HERALD_LOG_LEVEL: readEnvironment().HERALD_LOG_LEVEL ?? 'warn' }), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => {
      stderr.push(d.toString());
      if (stderr.length > 2000) stderr.splice(0, 1000);
    });
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error('cluster did not start in time')), opts.timeoutMs ?? 30_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${err.message}\nstdout: ${out}\nstderr: ${stderr.join('').slice(-4000)}`));
      };
      child.once('exit', (code) => fail(new Error(`cluster exited with ${code}`)));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const nodesLine = /nodes: (.*)\n/.exec(out);
        if (!nodesLine) return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        const nodes: Record<string, number> = {};
        for (const m of nodesLine[1].matchAll(/([\w.-]+)=pid (\d+)/g)) nodes[m[1]] = Number(m[2]);
        resolve(
          new ClusterProcess(
            child,
            { ws: /ws:\s+(\S+)/.exec(out)![1], http: /http:\s+(\S+)/.exec(out)![1], demoToken: /demo token[^:]*: (\S+)/.exec(out)![1], nodes },
            stderr,
          ),
        );
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Everything the cluster logged so far (stderr). */
  get logs(): string {
    return this.stderr.join('');
  }

  /** Sends `signal` and waits for the exit; SIGKILLs the process and its nodes if it takes longer than `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill(signal);
    const timer = setTimeout(() => {
      this.child.kill('SIGKILL');
      for (const pid of Object.values(this.info.nodes)) killQuietly(pid);
    }, graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  // process.kill(0) or a negative pid would signal a whole process group: ours.
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}
