import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isAlive } from '../core/process';
import type { Logger } from '../core/logger';
import type { LinkAddress } from '../core/LinkAddress';
import type { RelayCall } from '../core/nodeProtocol';
import type { NodeHostParams } from './NodeHost';
import { HANDSHAKE_MS, type LinkOptions } from './NodeLink';
import { NodeRef, answer, type ActorHandle } from './NodeRef';
import type { NodeSpec } from './ShardTableData';
import { inheritV8Flags } from './V8Flags';

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
  /** Deadline of every call to a node. */
  callTimeoutMs: number;
  /** Largest frame on a node link, either way. */
  linkMaxFrame: number;
}

/** What the gateway does with what nodes tell it on their own. */
export interface NodeEvents {
  /** A node's one-way notice (GatewayNotices: its deliveries) as it came off the wire, over its link or, before the link is up, through comedy. */
  fromNode: (node: string, op: string, args: unknown) => unknown;
  /** A node answers from a new process (comedy respawned it): it needs the current table. */
  onNewProcess: (ref: NodeRef) => unknown;
}

/**
 * The comedy actor system of the gateway process (the root) and the node actors it creates: forked child
 * processes by default, or actors on remote `comedy-node` listeners. Forked nodes are respawned by comedy after
 * a crash; comedy fires the respawn only on the old process's exit, so the LevelDB lock is free by then.
 */
export class ActorRuntime {
  private readonly children = new Map<string, { destroy(): Promise<void> }>();
  private readonly refs = new Map<string, NodeRef>();
  /** The per-cluster link secret: made here at start, handed to the nodes in their parameters, never logged. */
  private readonly link: LinkOptions;
  private peersVersion = 0;

  private constructor(
    private readonly system: { destroy(): Promise<void> },
    private readonly root: RootActor,
    private readonly opts: RuntimeOptions,
    private readonly log: Logger,
    private readonly events: NodeEvents,
  ) {
    this.link = { secret: randomBytes(32).toString('base64'), maxFrame: opts.linkMaxFrame, handshakeMs: HANDSHAKE_MS };
  }

  /**
   * Starts the system. Its root actor (in this process) answers `relay` calls: a node whose link to the gateway
   * is not up yet hands its deliveries this way (a payload as NodeRef sends it, naming the node).
   */
  static async start(opts: RuntimeOptions, log: Logger, events: NodeEvents): Promise<ActorRuntime> {
    class GatewayRoot {
      relay(payload: string): Promise<string> {
        return answer(payload, async (op, args) => events.fromNode(String((args as Partial<RelayCall['args']> | undefined)?.node), op, args));
      }
    }
    // Forked nodes run with herald's V8 flags whether or not the gateway was started with them.
    inheritV8Flags();
    const system = comedy.createSystem({ logger: COMEDY_LOG, root: GatewayRoot });
    releaseSignals(system);
    return new ActorRuntime(system, await system.rootActor(), opts, log, events);
  }

  /** Creates the actor of one node and waits until it has opened its LevelDB and replayed its ingest log. */
  async spawn(spec: NodeSpec, params: Omit<NodeHostParams, 'link'>): Promise<NodeRef> {
    const placement = spec.host ? { mode: 'remote', host: spec.host.split(':')[0], port: Number(spec.host.split(':')[1] ?? 6161) } : { mode: 'forked' };
    const actor = await this.root.createChild(NODE_HOST, {
      ...placement,
      name: `herald-${spec.id}`,
      onCrash: 'respawn',
      customParameters: { ...params, link: { secret: this.link.secret, maxFrame: this.link.maxFrame } },
    });
    this.children.set(spec.id, actor);
    const ref = new NodeRef(spec.id, actor, this.opts.callTimeoutMs, 0, !spec.host);
    ref.pid = (await ref.call('ping', null)).pid;
    this.refs.set(spec.id, ref);
    await ref.attach({
      opts: this.link,
      onNotice: (node, op, args) => this.events.fromNode(node, op, args),
      onLinked: (linked) => {
        this.log.info({ node: linked.id, pid: linked.pid, port: linked.address?.port }, 'node link up');
        this.announcePeers();
      },
      onNewProcess: (renewed) => {
        this.log.info({ node: renewed.id, pid: renewed.pid }, 'node answers from a new process');
        void Promise.resolve(this.events.onNewProcess(renewed)).catch(() => undefined);
      },
    });
    this.log.info({ node: spec.id, pid: ref.pid, mode: placement.mode, linked: ref.linked }, 'node actor up');
    return ref;
  }

  /**
   * Gives every node the link address of every node (again whenever one changes: a respawned node listens on a
   * new port), so node → node calls go straight to the target. Versioned: a node keeps the newest it got.
   */
  private announcePeers(): void {
    const peers: Record<string, LinkAddress> = {};
    for (const [id, ref] of this.refs) if (ref.address) peers[id] = ref.address;
    const version = ++this.peersVersion;
    for (const ref of this.refs.values()) {
      ref.call('setPeers', { version, peers }).catch((err) => this.log.debug({ err, node: ref.id }, 'node missed the peer addresses'));
    }
  }

  /** Destroys one node actor (it flushes and closes its LevelDB) and waits for its process to end. */
  async destroy(id: string, pid: number, graceMs = 5_000): Promise<void> {
    const child = this.children.get(id);
    this.children.delete(id);
    this.refs.get(id)?.detach();
    this.refs.delete(id);
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
    for (const ref of this.refs.values()) ref.detach();
    await this.system.destroy().catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
