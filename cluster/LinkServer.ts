import { createServer, type Server } from 'node:net';
import type { Logger } from '../core/logger';
import { NodeLink, type LinkHandler, type LinkOptions } from './NodeLink';

/**
 * A node's listener for links (from the gateway and from the other nodes), on its private address, port 0.
 * Every connection must prove it holds the cluster's link secret before any call is read (NodeLink.accept).
 */
export class LinkServer {
  /** The authenticated links by the name the peer gave ('gateway' or a node id); a newer one replaces an older. */
  readonly links = new Map<string, NodeLink>();
  /** Calls received, by peer and op (the per-peer counters of the node's stats). */
  readonly received: Record<string, Record<string, number>> = {};
  /** Connections refused by the handshake. */
  refused = 0;

  private constructor(private readonly server: Server) {}

  static async listen(host: string, opts: LinkOptions, handler: LinkHandler, log: Logger): Promise<LinkServer> {
    const server = createServer();
    const self = new LinkServer(server);
    const counted: LinkHandler = (op, args, link) => {
      const byOp = (self.received[link.peer] ??= {});
      byOp[op] = (byOp[op] ?? 0) + 1;
      return handler(op, args, link);
    };
    server.on('connection', (socket) => {
      socket.on('error', () => undefined);
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      void NodeLink.accept(socket, opts, counted).then((link) => {
        if (!link) {
          self.refused++;
          log.warn({ remote }, 'link connection refused: failed authentication');
          return;
        }
        const old = self.links.get(link.peer);
        self.links.set(link.peer, link);
        old?.close();
        link.onClose(() => self.links.get(link.peer) === link && self.links.delete(link.peer));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    return self;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address();
    if (!a || typeof a !== 'object') throw new Error('link server is not listening');
    return { host: a.address, port: a.port };
  }

  close(): void {
    this.server.close();
    for (const link of this.links.values()) link.close();
  }
}
