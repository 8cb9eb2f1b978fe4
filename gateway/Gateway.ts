import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { ActorRuntime } from '../cluster/ActorRuntime';
import { Liveness } from '../cluster/Liveness';
import { Coordinator } from '../cluster/Coordinator';
import { ringAllocation } from '../cluster/RingAllocation';
import type { SentItem } from '../cluster/NodeChannel';
import type { Delivery, DeliverNotice, PackedDelivery } from '../core/nodeProtocol';
import { ShardTable } from '../cluster/ShardTable';
import type { NodeSpec } from '../cluster/ShardTableData';
import { HeraldError } from '../core/HeraldError';
import type { Logger } from '../core/logger';
import { Auth, tokenFrom } from './Auth';
import { nodeParamsOf, type HeraldConfig } from '../core/config';
import { ConnectionRegistry } from './ConnectionRegistry';
import { AdminApi } from './AdminApi';
import { httpHandler } from './HttpApi';
import { Metrics } from './Metrics';
import { PresenceFeed } from './PresenceFeed';
import { Router } from './Router';
import { Session, sessionValidators } from './Session';

export const TABLE_FILE = 'cluster.json';

/**
 * The edge and the root of the cluster: creates (or reopens) the shard table, starts one node actor per node,
 * and serves WebSocket `/v1/ws` and the HTTP API on one port. Every request is authenticated.
 */
export class Gateway {
  private readonly perUser = new Map<string, number>();
  private heartbeat?: NodeJS.Timeout;

  private constructor(
    readonly config: HeraldConfig,
    readonly auth: Auth,
    readonly table: ShardTable,
    readonly coordinator: Coordinator,
    private readonly runtime: ActorRuntime,
    private readonly liveness: Liveness,
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    private readonly log: Logger,
    /** Open sockets (shared with the metrics). */
    private readonly sockets: Set<WebSocket>,
  ) {}

  static async start(config: HeraldConfig, log: Logger): Promise<Gateway> {
    const auth = Auth.fromDataDir(config.dataDir);
    const tableFile = join(config.dataDir, TABLE_FILE);
    const table = openTable(config, tableFile, log);
    const registry = new ConnectionRegistry();
    const sockets = new Set<WebSocket>();
    let coordinator: Coordinator | undefined;
    let presence: PresenceFeed | undefined;
    const metrics = new Metrics({
      // A scrape must not hang on a busy node: one that does not answer in 2 s is reported down for this scrape.
      nodeStats: () =>
        Promise.all(
          [...(coordinator?.nodes.values() ?? [])].map((ref) =>
            ref.call('stats', null, 2000).catch((err) => ({ nodeId: ref.id, error: HeraldError.from(err).code })),
          ),
        ),
      channelDepths: () => [...(coordinator?.channels ?? [])].map(([id, c]) => [id, c.depth, c.maxDepth] as [string, number, number]),
      livenessKills: () => liveness.kills,
      connections: () => sockets.size,
      subscribedUsers: () => registry.users,
    });
    const deliverOne = (d: Delivery) => registry.deliver(d.user, d.notification);
    // Ingest replies come with their batch's items (NodeChannel), which the latency metric needs; each
    // notification comes as its node's bytes, framed for the sockets as they are.
    const deliverPacked = (d: PackedDelivery) => registry.deliver(d.user, d);
    const deliver = (ds: PackedDelivery[], sent?: readonly SentItem[]) => metrics.deliveredTriggered(ds, sent ?? [], deliverPacked);
    // What nodes hand over on their own: the notifications of fanout batches they decided (straight from the
    // node that decided them, on its link), to be delivered to live sockets here.
    // A notice comes off the wire: its shape is checked before it is delivered.
    const fromNode = (node: string, op: string, args: unknown) => {
      const notice = args as Partial<DeliverNotice> | undefined;
      if (op !== 'deliver' || !Array.isArray(notice?.deliveries)) throw new HeraldError('HERALD_UNKNOWN_OP', `nodes do not send ${op}`);
      let delivered = 0;
      for (const d of notice.deliveries) if (typeof d?.user === 'string' && d.notification && deliverOne(d)) delivered++;
      const f = notice.fanout;
      if (f && Number.isFinite(f.decided) && Number.isFinite(f.notified)) metrics.relayed(node, f.decided, f.notified, delivered);
      return null;
    };
    const runtime = await ActorRuntime.start({ callTimeoutMs: config.callTimeoutMs, linkMaxFrame: config.linkMaxFrame }, log, {
      fromNode,
      // A new process knows nobody's presence: it gets the table, then the present users of its shards.
      onNewProcess: (ref) => coordinator?.sendTable(ref).then(() => presence?.sync(ref)),
    });
    coordinator = new Coordinator(
      table,
      runtime,
      {
        tableFile,
        strategy: ringAllocation,
        channel: { maxBatch: config.batchMax, maxDelayMs: config.batchDelayMs, maxPending: config.maxPendingPerNode },
        moveBatchKeys: config.moveBatchKeys,
        moveThrottleMs: config.moveThrottleMs,
        moveKeysPerS: config.moveKeysPerS,
        moveBufferMax: config.moveBufferMax,
        deliver,
        handOver: (shard, ref) => presence?.handOver(shard, ref) ?? Promise.resolve(),
        nodeParams: (spec) => nodeParamsOf(config, spec.id, table.shardCount),
      },
      log,
    );
    try {
      await coordinator.start();
    } catch (err) {
      await runtime.stop([...coordinator.nodes.values()].map((n) => n.pid));
      throw err;
    }
    presence = new PresenceFeed(coordinator, log);
    const feed = presence;
    // Nobody is subscribed yet: every node learns that its shards' presence is known (and empty).
    await Promise.all([...coordinator.nodes.values()].map((ref) => feed.sync(ref)));
    const nodes = coordinator.nodes;
    const liveness = new Liveness(nodes, { intervalMs: config.livenessIntervalMs, timeoutMs: config.livenessTimeoutMs }, log);
    const router = new Router(coordinator);
    const health = async () => {
      const entries = await Promise.all(
        [...nodes].map(async ([id, ref]) => {
          try {
            ref.observe((await ref.call('ping', null, 1000)).pid);
            return [id, { ok: true, pid: ref.pid }] as const;
          } catch {
            return [id, { ok: false }] as const;
          }
        }),
      );
      return Object.fromEntries(entries);
    };

    const stats = async () => {
      const perNode = await Promise.all(
        [...nodes.values()].map((ref) => ref.call('stats', null).catch((err) => ({ nodeId: ref.id, error: HeraldError.from(err).code }))),
      );
      return { nodes: perNode, connections: registry.users, liveness: liveness.kills, operation: coordinator!.progress, epoch: table.epoch };
    };
    const admin = new AdminApi(coordinator, stats, log);
    const server = createServer(httpHandler({ auth, router, config, log, health, admin, metrics }));
    const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, perMessageDeflate: false });
    const gateway = new Gateway(config, auth, table, coordinator, runtime, liveness, server, wss, log, sockets);
    const validators = sessionValidators(config);
    // Everything is checked before the handshake: a refused client never gets a socket.
    server.on('upgrade', (req, socket: Duplex, head) => {
      try {
        const url = new URL(req.url ?? '/', 'http://herald');
        if (url.pathname !== '/v1/ws') throw new HeraldError('HERALD_NOT_FOUND', 'WebSocket endpoint is /v1/ws');
        const origin = req.headers.origin;
        if (origin && config.allowedOrigins.length && !config.allowedOrigins.includes(origin)) {
          throw new HeraldError('HERALD_FORBIDDEN', 'origin not allowed');
        }
        const principal = auth.verify(tokenFrom(req.headers.authorization, url));
        if (gateway.connectionsOf(principal.sub) >= config.maxConnectionsPerUser) {
          throw new HeraldError('HERALD_TOO_MANY_CONNECTIONS', `at most ${config.maxConnectionsPerUser} sockets per user`);
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          gateway.track(ws, principal.sub);
          metrics.connectionOpened();
          new Session(ws, principal, { router, registry, presence: feed, validators, config, log, metrics });
        });
      } catch (err) {
        const e = HeraldError.from(err);
        metrics.error('upgrade', e.code);
        refuse(socket, e);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.bind, () => resolve());
    });
    gateway.startHeartbeat();
    liveness.start();
    return gateway;
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.config.port;
  }

  get urls(): { ws: string; http: string } {
    const host = this.config.bind.includes(':') ? `[${this.config.bind}]` : this.config.bind;
    return { ws: `ws://${host}:${this.port}/v1/ws`, http: `http://${host}:${this.port}` };
  }

  private connectionsOf(user: string): number {
    return this.perUser.get(user) ?? 0;
  }

  private track(ws: WebSocket, user: string): void {
    this.perUser.set(user, this.connectionsOf(user) + 1);
    ws.on('close', () => {
      const n = this.connectionsOf(user) - 1;
      if (n > 0) this.perUser.set(user, n);
      else this.perUser.delete(user);
    });
    this.sockets.add(ws);
    (ws as WebSocket & { alive?: boolean }).alive = true;
    ws.on('pong', () => ((ws as WebSocket & { alive?: boolean }).alive = true));
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', (err) => this.log.debug({ err }, 'socket error'));
  }

  /** Pings every socket; one that did not answer the previous ping is gone and gets terminated. */
  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      for (const ws of this.sockets) {
        const w = ws as WebSocket & { alive?: boolean };
        if (!w.alive) {
          ws.terminate();
          continue;
        }
        w.alive = false;
        ws.ping();
      }
    }, this.config.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Stops taking work, closes sockets, then each node flushes and closes its LevelDB. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.liveness.stop();
    for (const ws of this.sockets) ws.close(1001, 'server shutting down');
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.runtime.stop([...this.coordinator.nodes.values()].map((n) => n.pid));
  }
}

/** Reopens the stored shard table, or creates it: the shard count and the nodes are fixed at creation. */
function openTable(config: HeraldConfig, file: string, log: Logger): ShardTable {
  const stored = ShardTable.load(file, ringAllocation);
  if (stored) {
    if (stored.shardCount !== config.shards) {
      log.warn({ stored: stored.shardCount, asked: config.shards }, 'shard count is fixed at creation; using the stored one');
    }
    return stored;
  }
  const nodes: NodeSpec[] = config.hosts.length
    ? config.hosts.map((host, i) => ({ id: `node-${i + 1}`, host }))
    : Array.from({ length: config.nodes }, (_, i) => ({ id: `node-${i + 1}` }));
  const table = ShardTable.create(config.shards, nodes, ringAllocation);
  table.save(file);
  return table;
}

function refuse(socket: Duplex, err: HeraldError): void {
  const reasons: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' };
  const body = JSON.stringify(err.toJSON());
  const reason = reasons[err.httpStatus] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${err.httpStatus} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
