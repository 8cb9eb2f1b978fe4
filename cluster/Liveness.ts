import type { Logger } from '../core/logger';
import { isAlive } from '../core/process';
import type { NodeRef } from './NodeRef';

export interface LivenessOptions {
  /** How often every node is pinged (`livenessIntervalMs`). */
  intervalMs: number;
  /** A local node that has not answered for this long is killed (SIGKILL) so comedy respawns it (`livenessTimeoutMs`). */
  timeoutMs: number;
}

/**
 * Watches the nodes. A node process that stops answering (hung, or SIGSTOPped) would keep its LevelDB lock and
 * time out every call: a local one is killed, comedy respawns it, and the new process replays its ingest log.
 * Killing it also fences it: a process that is gone cannot wake up and write. Remote nodes are only reported.
 */
export class Liveness {
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<string>();
  readonly kills: Record<string, number> = {};

  constructor(
    private readonly nodes: ReadonlyMap<string, NodeRef>,
    private readonly opts: LivenessOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => this.checkNode(node)));
  }

  /**
   * One ping at a time per node, with the whole timeout as its deadline: a node that is only busy (its ping
   * queued behind real work) answers late but answers, and is left alone. Only a process that is still there
   * and has not answered for `timeoutMs` is killed.
   */
  private async checkNode(node: NodeRef): Promise<void> {
    if (this.inFlight.has(node.id)) return;
    this.inFlight.add(node.id);
    const pid = node.pid;
    const sent = Date.now();
    try {
      // Over the node's link when it is up: answered as soon as its event loop turns, not behind queued comedy
      // IPC work. A new PID is handled by NodeRef.observe (the node gets the table again).
      const answer = await node.call('ping', null, this.opts.timeoutMs);
      node.observe(answer.pid);
    } catch {
      const silentFor = Date.now() - sent;
      if (silentFor < this.opts.timeoutMs || pid !== node.pid) return; // crashed (comedy respawns it), or respawned meanwhile
      if (node.local && isAlive(pid)) {
        this.log.warn({ node: node.id, pid, silentFor }, 'node unresponsive: killing it so it is respawned');
        process.kill(pid, 'SIGKILL');
        this.kills[node.id] = (this.kills[node.id] ?? 0) + 1;
      } else {
        this.log.warn({ node: node.id, silentFor }, 'node unresponsive');
      }
    } finally {
      this.inFlight.delete(node.id);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
