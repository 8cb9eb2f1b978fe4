import { HeraldError } from '../core/HeraldError';
import type { LinkAddress } from '../core/LinkAddress';
import type { Logger } from '../core/logger';
import type { NodeOps, OpShape } from '../core/nodeProtocol';
import { NodeLink, type LinkHandler, type LinkOptions } from './NodeLink';

/**
 * A node's direct links to the other nodes (node → node calls: fanout batches, a new owner pulling a shard).
 * The gateway hands out every node's link address (`setPeers`, again whenever a node comes back on a new port);
 * a link is opened on first use and reopened after it closes. Calls are typed against an op map: the node ops,
 * unless a test of the links alone names its own.
 */
export class NodePeers<Ops extends { [K in keyof Ops]: OpShape } = NodeOps> {
  private addresses = new Map<string, LinkAddress>();
  private version = -1;
  private readonly links = new Map<string, Promise<NodeLink>>();
  /** Calls made, by peer and op (the per-peer counters of the node's stats). */
  readonly sent: Record<string, Record<string, number>> = {};

  constructor(
    /** This node's id: the name it authenticates under. */
    private readonly self: string,
    private readonly opts: LinkOptions,
    private readonly log: Logger,
    /** Answers calls the peer makes back on a link this node opened. */
    private readonly handler?: LinkHandler,
  ) {}

  /** Takes the addresses of every node; an older announcement than the last one taken is ignored. */
  set(version: number, addresses: Record<string, LinkAddress>): void {
    if (version < this.version) return;
    this.version = version;
    for (const [id, a] of Object.entries(addresses)) {
      const was = this.addresses.get(id);
      if (was && (was.host !== a.host || was.port !== a.port)) this.drop(id);
      this.addresses.set(id, { host: a.host, port: a.port });
    }
  }

  /** Calls `op` on node `node` over a direct link; HERALD_UNAVAILABLE when it cannot be reached or does not answer in time. */
  async call<K extends keyof Ops & string>(node: string, op: K, args: Ops[K]['args'], timeoutMs: number): Promise<Ops[K]['reply']> {
    const byOp = (this.sent[node] ??= {});
    byOp[op] = (byOp[op] ?? 0) + 1;
    const started = Date.now();
    const link = await this.linkTo(node, timeoutMs);
    return link.call<Ops[K]['reply']>(op, args, Math.max(1, timeoutMs - (Date.now() - started)));
  }

  private linkTo(node: string, timeoutMs: number): Promise<NodeLink> {
    let link = this.links.get(node);
    if (!link) {
      const a = this.addresses.get(node);
      if (!a) return Promise.reject(new HeraldError('HERALD_UNAVAILABLE', `no link address for node ${node} yet`));
      const opts = { ...this.opts, handshakeMs: Math.min(this.opts.handshakeMs, timeoutMs) };
      link = NodeLink.connect(a.host, a.port, this.self, opts, this.handler, node);
      this.links.set(node, link);
      link.then(
        (l) => l.onClose(() => this.links.get(node) === link && this.links.delete(node)),
        (err) => {
          if (this.links.get(node) === link) this.links.delete(node);
          this.log.debug({ err, peer: node }, 'link to peer failed');
        },
      );
    }
    return link;
  }

  private drop(node: string): void {
    const link = this.links.get(node);
    this.links.delete(node);
    void link?.then(
      (l) => l.close(),
      () => undefined,
    );
  }

  close(): void {
    for (const id of [...this.links.keys()]) this.drop(id);
  }
}
