import type { Coordinator } from '../cluster/Coordinator';
import { HeraldError } from '../core/HeraldError';
import type { Logger } from '../core/logger';

/** One admin route's answer: status and body. */
export type AdminReply = [number, object];

const NODE_PATH = /^\/v1\/admin\/nodes\/([\w.-]+)(\/drain)?$/;
const SHARD_PATH = /^\/v1\/admin\/shards\/(\d+)\/move$/;

/**
 * The admin API behind `npm run admin` (admin token only): status, plan, rebalance, add/drain/remove node,
 * move-shard. Long operations start and answer 202 at once; `GET /v1/admin/status` follows their progress.
 */
export class AdminApi {
  constructor(
    private readonly coordinator: Coordinator,
    private readonly stats: () => Promise<{ nodes: object[] }>,
    private readonly log: Logger,
  ) {}

  async handle(method: string, path: string, body: () => Promise<Record<string, unknown>>): Promise<AdminReply> {
    const c = this.coordinator;
    if (method === 'GET' && path === '/v1/admin/stats') return [200, await this.stats()];
    if (method === 'GET' && path === '/v1/admin/status') return [200, await this.status()];
    if (method === 'GET' && path === '/v1/admin/plan') return [200, { epoch: c.table.epoch, moves: c.plan() }];
    if (method === 'POST' && path === '/v1/admin/rebalance') {
      const { concurrency } = await body();
      return this.launch(() => c.rebalance(concurrencyOf(concurrency)));
    }
    if (method === 'POST' && path === '/v1/admin/nodes') {
      const { host, rebalance, concurrency } = await body();
      if (host !== undefined && (typeof host !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(host)))
        throw new HeraldError('HERALD_INVALID_MESSAGE', 'host must be h:port');
      this.idle();
      const ref = await c.addNode(host as string | undefined);
      if (rebalance !== false) void this.launch(() => c.rebalance(concurrencyOf(concurrency)));
      return [200, { node: ref.id, pid: ref.pid }];
    }
    if (method === 'GET' && path === '/v1/admin/dead-letters') {
      const perNode = await Promise.all([...c.nodes.values()].map(async (ref) => ({ node: ref.id, letters: await ref.call('deadLetters', { limit: 1000 }) })));
      return [200, { nodes: perNode }];
    }
    if (method === 'POST' && path === '/v1/admin/dead-letters/replay') {
      const { ids, node: only } = await body();
      if (ids !== undefined && (!Array.isArray(ids) || ids.some((i) => typeof i !== 'string')))
        throw new HeraldError('HERALD_INVALID_MESSAGE', 'ids must be strings');
      const refs = [...c.nodes.values()].filter((r) => only === undefined || r.id === only);
      const replayed = await Promise.all(refs.map(async (ref) => [ref.id, await ref.call('replayDeadLetters', { ids })] as const));
      return [200, { replayed: Object.fromEntries(replayed) }];
    }
    const node = NODE_PATH.exec(path);
    if (node && method === 'POST' && node[2]) {
      const { concurrency } = await body();
      return this.launch(() => c.drain(node[1], concurrencyOf(concurrency)));
    }
    if (node && method === 'DELETE' && !node[2]) {
      this.idle();
      await c.removeNode(node[1]);
      return [200, { removed: node[1] }];
    }
    const shard = SHARD_PATH.exec(path);
    if (shard && method === 'POST') {
      const { node: to } = await body();
      if (typeof to !== 'string') throw new HeraldError('HERALD_INVALID_MESSAGE', 'node is required');
      return this.launch(() => c.moveShard(Number(shard[1]), to));
    }
    throw new HeraldError('HERALD_NOT_FOUND', `no admin route ${method} ${path}`);
  }

  private idle(): void {
    if (this.coordinator.progress?.state === 'running') throw new HeraldError('HERALD_BUSY', `${this.coordinator.progress.operation} is running`);
  }

  /** Starts a long operation; errors before it runs (bad input, busy) answer now, later ones land in its progress. */
  private launch(start: () => Promise<unknown>): AdminReply {
    this.idle();
    let started: Promise<unknown>;
    try {
      started = start();
    } catch (err) {
      throw HeraldError.from(err);
    }
    started.catch((err) => this.log.warn({ err }, 'admin operation failed'));
    return [202, { operation: this.coordinator.progress }];
  }

  /** Nodes with their shards, bytes and counters; moves in progress; the current operation. */
  async status(): Promise<object> {
    const c = this.coordinator;
    const stats = (await this.stats()).nodes as Array<Record<string, unknown> & { nodeId: string }>;
    const nodes = await Promise.all(
      c.table.data.nodes.map(async (spec) => {
        const s: Record<string, unknown> = stats.find((x) => x.nodeId === spec.id) ?? { error: 'no answer' };
        const ref = c.nodes.get(spec.id);
        const sizes = (await ref?.call('shardSizes', null).catch(() => undefined)) ?? {};
        const stray = await ref?.call('strayShards', null).catch(() => undefined);
        return {
          id: spec.id,
          host: spec.host,
          draining: !!spec.draining,
          shards: c.table.shardsOf(spec.id).length,
          bytes: Object.values(sizes).reduce((a, b) => a + b, 0),
          ok: !('error' in s),
          pid: s.pid,
          activeUsers: s.activeUsers,
          events: s.events,
          notifications: s.notifications,
          /** Shards it holds keys of without owning them: only while a move is in progress. */
          stray,
        };
      }),
    );
    return { epoch: c.table.epoch, shardCount: c.table.shardCount, nodes, moving: c.table.moves, operation: c.progress };
  }
}

function concurrencyOf(v: unknown): number {
  if (v === undefined) return 2;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 64) throw new HeraldError('HERALD_INVALID_MESSAGE', 'concurrency must be 1..64');
  return v as number;
}
