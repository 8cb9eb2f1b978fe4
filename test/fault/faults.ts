import { readFileSync } from 'node:fs';
import { isAlive } from '../../scripts/ClusterProcess';
import { waitFor } from '../support/waitFor';

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
    const n = await waitFor(
      `node ${node} healthy`,
      async () => (await this.nodes())?.[node],
      (x) => !!x?.ok && !!x.pid,
      { timeoutMs, everyMs: 100 },
    );
    return n!.pid!;
  }

  /** Waits until `node` answers from a process other than `oldPid` (comedy respawned it); returns the new PID. */
  async waitRespawn(node: string, oldPid: number, timeoutMs = 30_000): Promise<number> {
    const what = `node ${node} (was pid ${oldPid}) respawned`;
    const n = await waitFor(
      what,
      async () => (await this.nodes())?.[node],
      (x) => !!x?.ok && !!x.pid && x.pid !== oldPid,
      { timeoutMs, everyMs: 100 },
    );
    return n!.pid!;
  }

  async waitAllOk(count: number, timeoutMs = 30_000): Promise<NodeHealth> {
    const healthy = (nodes: NodeHealth | undefined) => !!nodes && Object.keys(nodes).length === count && Object.values(nodes).every((n) => n.ok);
    return (await waitFor(`all ${count} nodes healthy`, () => this.nodes(), healthy, { timeoutMs, everyMs: 100 }))!;
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
