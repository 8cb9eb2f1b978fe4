import type { Logger } from '../storage/logger';
import { isAlive } from '../storage/process';
import type { NodeRef } from './NodeRef';

export interface LivenessOptions {
  /** How often every node is pinged. @defaultValue 1000 */
  intervalMs: number;
  /** A local node that has not answered for this long is killed (SIGKILL) so comedy respawns it. @defaultValue 5000 */
  timeoutMs: number;
}

/**
 * Watches the nodes. A node process that stops answering (hung, or SIGSTOPped) would keep its LevelDB lock and
 * time out every call: a local one is killed, comedy respawns it, and the new process replays its ingest log.
 * Killing it also fences it: a process that is gone cannot wake up and write. Remote nodes are only reported.
 */
export class Liveness {
  private timer?: NodeJS.Timeout;
  private readonly lastOk = new Map<string, number>();
  readonly kills: Record<string, number> = {};

  constructor(
    private readonly nodes: ReadonlyMap<string, NodeRef>,
    private readonly opts: LivenessOptions,
    private readonly log: Logger,
    /** Called when a node answers from a new process (comedy respawned it): it needs the current table. */
    private readonly onNewProcess: (node: NodeRef) => Promise<unknown> = async () => undefined,
  ) {}

  start(): void {
    const now = Date.now();
    for (const id of this.nodes.keys()) this.lastOk.set(id, now);
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => this.checkNode(node)));
  }

  private async checkNode(node: NodeRef): Promise<void> {
    try {
      const { pid } = await node.call<{ pid: number }>('ping', null, this.opts.intervalMs);
      if (pid !== node.pid) {
        this.log.info({ node: node.id, pid, was: node.pid }, 'node answers from a new process');
        await this.onNewProcess(node);
      }
      node.pid = pid;
      this.lastOk.set(node.id, Date.now());
    } catch {
      if (!this.lastOk.has(node.id)) this.lastOk.set(node.id, Date.now());
      const silentFor = Date.now() - this.lastOk.get(node.id)!;
      if (silentFor < this.opts.timeoutMs) return;
      if (node.local && isAlive(node.pid)) {
        this.log.warn({ node: node.id, pid: node.pid, silentFor }, 'node unresponsive: killing it so it is respawned');
        process.kill(node.pid, 'SIGKILL');
        this.kills[node.id] = (this.kills[node.id] ?? 0) + 1;
      } else {
        this.log.warn({ node: node.id, silentFor }, 'node unresponsive');
      }
      // Give the respawn its time before judging again.
      this.lastOk.set(node.id, Date.now());
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
