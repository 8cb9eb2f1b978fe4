import { readFileSync } from 'node:fs';
import { isAlive } from '../../scripts/ClusterProcess';
import { sleep } from './LoadDriver';

export type NodeHealth = Record<string, { ok: boolean; pid?: number }>;

/**
 * `GET /healthz` with an admin token: per node, whether it answers a ping and its PID. Every PID seen is kept in
 * `pids`, so the test can make sure no node process outlives it.
 */
export class Health {
  constructor(
    private readonly http: () => string,
    private readonly adminToken: () => string,
    readonly pids: Set<number>,
  ) {}

  async nodes(): Promise<NodeHealth | undefined> {
    try {
      const res = await fetch(`${this.http()}/healthz`, { headers: { authorization: `Bearer ${this.adminToken()}` }, signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { ok: boolean; nodes?: NodeHealth };
      for (const n of Object.values(body.nodes ?? {})) if (n.pid) this.pids.add(n.pid);
      return body.nodes;
    } catch {
      return undefined; // the gateway is restarting
    }
  }

  async pidOf(node: string, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = (await this.nodes())?.[node];
      if (n?.ok && n.pid) return n.pid;
      if (Date.now() > deadline) throw new Error(`node ${node} not healthy within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Waits until `node` answers from a process other than `oldPid` (comedy respawned it); returns the new PID. */
  async waitRespawn(node: string, oldPid: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = (await this.nodes())?.[node];
      if (n?.ok && n.pid && n.pid !== oldPid) return n.pid;
      if (Date.now() > deadline) throw new Error(`node ${node} (was pid ${oldPid}) not respawned within ${timeoutMs} ms: ${JSON.stringify(n)}`);
      await sleep(100);
    }
  }

  async waitAllOk(count: number, timeoutMs = 30_000): Promise<NodeHealth> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nodes = await this.nodes();
      if (nodes && Object.keys(nodes).length === count && Object.values(nodes).every((n) => n.ok)) return nodes;
      if (Date.now() > deadline) throw new Error(`cluster not healthy within ${timeoutMs} ms: ${JSON.stringify(nodes)}`);
      await sleep(100);
    }
  }
}

/** Whether `pid` is a live comedy node process (so a recycled PID of something else is never signalled). */
export function isNodeProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('forked-actor-worker');
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
