import { join } from 'node:path';
import { isAlive } from '../storage/process';
import type { Logger } from '../storage/logger';
import type { NodeParams } from './NodeHost';
import { NodeRef, answer, type ActorHandle } from './NodeRef';
import type { NodeSpec } from './ShardTable';

// comedy's typings do not type createSystem's options; this folder is the only place that imports it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const comedy = require('comedy') as {
  createSystem(opts: object): { rootActor(): Promise<RootActor>; destroy(): Promise<void> };
};

/**
 * comedy answers SIGINT/SIGTERM with an immediate process.exit(0), which would skip flushing and closing
 * LevelDB. Remove its handlers; the cluster script and NodeHost install ones that shut down cleanly.
 */
export function releaseSignals(system: object): void {
  const s = system as { sigintHandler?: () => void; sigtermHandler?: () => void };
  if (s.sigintHandler) process.removeListener('SIGINT', s.sigintHandler);
  if (s.sigtermHandler) process.removeListener('SIGTERM', s.sigtermHandler);
}

interface RootActor {
  createChild(definition: string, options: object): Promise<ActorHandle & { destroy(): Promise<void> }>;
}

/** Modules comedy loads by path in each node process (compiled JS; `//` marks an absolute path for comedy). */
const NODE_HOST = '/' + join(__dirname, 'NodeHost.js');
const COMEDY_LOG = '/' + join(__dirname, 'ComedyLog.js');

export interface RuntimeOptions {
  /** Deadline of every call to a node. @defaultValue 5000 */
  callTimeoutMs: number;
}

/**
 * The comedy actor system of the gateway process (the root) and the node actors it creates: forked child
 * processes by default, or actors on remote `comedy-node` listeners. Forked nodes are respawned by comedy after
 * a crash; comedy fires the respawn only on the old process's exit, so the LevelDB lock is free by then.
 */
export class ActorRuntime {
  private readonly children = new Map<string, { destroy(): Promise<void> }>();

  private constructor(
    private readonly system: { destroy(): Promise<void> },
    private readonly root: RootActor,
    private readonly opts: RuntimeOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Starts the system. Its root actor (in this process) answers `relay` calls from nodes: a node reaches
   * another node through the gateway, which hands each call to `relay` (a payload as NodeRef sends it).
   */
  static async start(opts: RuntimeOptions, log: Logger, relay: (op: string, args: any) => Promise<unknown>): Promise<ActorRuntime> {
    class GatewayRoot {
      relay(payload: string): Promise<string> {
        return answer(payload, relay);
      }
    }
    const system = comedy.createSystem({ logger: COMEDY_LOG, root: GatewayRoot });
    releaseSignals(system);
    return new ActorRuntime(system, await system.rootActor(), opts, log);
  }

  /** Creates the actor of one node and waits until it has opened its LevelDB and replayed its ingest log. */
  async spawn(spec: NodeSpec, params: NodeParams): Promise<NodeRef> {
    const placement = spec.host
      ? { mode: 'remote', host: spec.host.split(':')[0], port: Number(spec.host.split(':')[1] ?? 6161) }
      : { mode: 'forked' };
    const actor = await this.root.createChild(NODE_HOST, {
      ...placement,
      name: `herald-${spec.id}`,
      onCrash: 'respawn',
      customParameters: params,
    });
    this.children.set(spec.id, actor);
    const ref = new NodeRef(spec.id, actor, this.opts.callTimeoutMs, 0, !spec.host);
    ref.pid = (await ref.call<{ pid: number }>('ping', null)).pid;
    this.log.info({ node: spec.id, pid: ref.pid, mode: placement.mode }, 'node actor up');
    return ref;
  }

  /** Destroys one node actor (it flushes and closes its LevelDB) and waits for its process to end. */
  async destroy(id: string, pid: number, graceMs = 5_000): Promise<void> {
    const child = this.children.get(id);
    this.children.delete(id);
    await child?.destroy().catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Destroys every node actor (each flushes and closes its LevelDB), then the system, and waits until the
   * forked node processes (`pids`) are gone, so a restart never meets a node still holding its LevelDB.
   */
  async stop(pids: number[], graceMs = 5_000): Promise<void> {
    // The system destroys its children (each node flushes and closes its LevelDB); destroying them here first
    // made comedy destroy them twice (EPIPE warnings at every shutdown).
    await this.system.destroy().catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
