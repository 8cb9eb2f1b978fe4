import { pack, unpack } from '../core/Codec';
import { HeraldError } from '../core/HeraldError';
import type { LinkAddress } from '../core/LinkAddress';
import type { BenchOps, NodeOps } from '../core/nodeProtocol';
import { NodeLink, type LinkOptions } from './NodeLink';

/** The comedy actor reference, reduced to the one call we use. */
export interface ActorHandle {
  sendAndReceive(topic: string, ...message: unknown[]): Promise<unknown>;
}

/** What a node answers over comedy: a result, or a HERALD error (comedy would drop the code of a thrown error). */
export type Reply<T> = { r: T } | { e: { code: string; message: string } };

/** How the gateway keeps a link to a node, and what it is told about it. */
export interface LinkDial {
  opts: LinkOptions;
  /** A one-way frame from the node (its deliveries: GatewayNotices, checked by the gateway as they come off the wire). */
  onNotice: (node: string, op: string, args: unknown) => void;
  /** The link is up (again). */
  onLinked: (ref: NodeRef) => void;
  /** The node answered from a new process (comedy respawned it): it needs the current table. */
  onNewProcess: (ref: NodeRef) => void;
}

const RELINK_MIN_MS = 50;
const RELINK_MAX_MS = 500;

/**
 * Calls to one node. They go over the direct link (NodeLink: length-prefixed msgpack on a socket) when it is up,
 * and over comedy (base64 msgpack: ASCII-safe on every comedy path, whose socket framing mis-sizes non-ASCII JSON)
 * before that. Every call has a deadline: comedy has none. When the link closes (the node died), the ref asks the
 * node for its new link port over comedy until it answers, and reconnects.
 */
export class NodeRef {
  private link?: NodeLink;
  private dial?: LinkDial;
  private detached = false;
  /** The node's link listener, once known. */
  address?: LinkAddress;

  constructor(
    readonly id: string,
    private readonly actor: ActorHandle,
    private readonly timeoutMs: number,
    /** PID of the node's process, for operators and fault tests (changes when comedy respawns it). */
    public pid = 0,
    /** Forked on this host (its PID can be signalled), not on a remote listener. */
    readonly local = true,
  ) {}

  /** True while calls go over the direct link. */
  get linked(): boolean {
    return !!this.link && !this.link.closed;
  }

  /** Calls `op` on the node (NodeOps): over its link when up, else over comedy; HERALD_UNAVAILABLE past `timeoutMs`. */
  call<K extends keyof NodeOps>(op: K, args: NodeOps[K]['args'], timeoutMs = this.timeoutMs): Promise<NodeOps[K]['reply']> {
    return this.send(op, args, timeoutMs);
  }

  /**
   * Calls a bench-only op (BenchOps), which only a node created with `benchOps` answers (any other answers
   * HERALD_UNKNOWN_OP). `via: 'comedy'` takes the fallback path even when the link is up (bench/transport.ts
   * compares the two).
   */
  callBench<K extends keyof BenchOps>(
    op: K,
    args: BenchOps[K]['args'],
    timeoutMs = this.timeoutMs,
    via: 'link' | 'comedy' = 'link',
  ): Promise<BenchOps[K]['reply']> {
    return via === 'comedy' ? this.viaComedy(op, args, timeoutMs) : this.send(op, args, timeoutMs);
  }

  private send<T>(op: string, args: unknown, timeoutMs: number): Promise<T> {
    const link = this.link;
    if (link && !link.closed) return link.call<T>(op, args, timeoutMs);
    return this.viaComedy<T>(op, args, timeoutMs);
  }

  /**
   * Records the PID a node answered from (whoever saw it: the link, Liveness, /health); the first to see a new
   * process tells the gateway, once. True when it is a new process.
   */
  observe(pid: number): boolean {
    if (pid === this.pid) return false;
    const known = this.pid !== 0;
    this.pid = pid;
    if (known) this.dial?.onNewProcess(this);
    return true;
  }

  /** Opens the link (the first attempt is awaited; on failure it keeps trying in the background). */
  async attach(dial: LinkDial): Promise<void> {
    this.dial = dial;
    if (!(await this.connect())) void this.relink();
  }

  /** Closes the link for good (the node is being destroyed). */
  detach(): void {
    this.detached = true;
    this.link?.close();
    this.link = undefined;
  }

  private async connect(): Promise<boolean> {
    const dial = this.dial;
    if (!dial || this.detached) return true;
    try {
      const ping = await this.viaComedy<NodeOps['ping']['reply']>('ping', null, Math.min(this.timeoutMs, 2_000));
      if (!ping.link) return false;
      const link = await NodeLink.connect(ping.link.host, ping.link.port, 'gateway', dial.opts, undefined, this.id);
      if (this.detached) {
        link.close();
        return true;
      }
      link.onNotice = (op, args) => dial.onNotice(this.id, op, args);
      this.link = link;
      this.address = ping.link;
      link.onClose(() => {
        if (this.link !== link) return;
        this.link = undefined;
        void this.relink();
      });
      this.observe(ping.pid);
      dial.onLinked(this);
      return true;
    } catch {
      return false;
    }
  }

  /** Retries with a growing pause until the link is up again (comedy respawns a crashed node in ~0.4 s). */
  private async relink(): Promise<void> {
    for (let pause = RELINK_MIN_MS; !this.detached && !this.linked; pause = Math.min(pause * 2, RELINK_MAX_MS)) {
      if (await this.connect()) return;
      await new Promise((r) => setTimeout(r, pause).unref());
    }
  }

  /** A call over comedy whether or not the link is up (the fallback path). */
  private viaComedy<T>(op: string, args: unknown, timeoutMs: number): Promise<T> {
    return callOverComedy<T>(this.actor, 'call', this.id, op, args, timeoutMs);
  }
}

/**
 * One call to a comedy actor's `topic` handler: `{op, args}` as base64 msgpack (ASCII-safe on every comedy path),
 * with a deadline (comedy has none); a HERALD error the other side answered is rethrown with its code. `name`
 * names the callee in errors. NodeRef's fallback path, and a node's `relay` to the gateway's root actor.
 */
export async function callOverComedy<T>(actor: ActorHandle, topic: string, name: string, op: string, args: unknown, timeoutMs: number): Promise<T> {
  const payload = Buffer.from(pack({ op, args })).toString('base64');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HeraldError('HERALD_UNAVAILABLE', `node ${name} did not answer ${op} in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const raw = await Promise.race([actor.sendAndReceive(topic, payload), deadline]);
    const reply = unpack<Reply<T>>(Buffer.from(raw as string, 'base64'));
    if ('e' in reply) throw HeraldError.from(reply.e);
    return reply.r;
  } catch (err) {
    if (err instanceof HeraldError) throw err;
    // comedy rejects with a plain Error while the node is down or respawning.
    throw new HeraldError('HERALD_UNAVAILABLE', `node ${name} is unavailable`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The answering side of a call over comedy: decodes a payload, runs `handle(op, args)`, and encodes its result or
 * its HERALD error as the reply (both the nodes and the gateway's root actor answer this way).
 */
export async function answer(payload: string, handle: (op: string, args: unknown) => Promise<unknown>): Promise<string> {
  let reply: Reply<unknown>;
  try {
    const { op, args } = unpack<{ op: string; args: unknown }>(Buffer.from(payload, 'base64'));
    reply = { r: await handle(op, args) };
  } catch (err) {
    reply = { e: HeraldError.from(err).toJSON() };
  }
  return Buffer.from(pack(reply)).toString('base64');
}
