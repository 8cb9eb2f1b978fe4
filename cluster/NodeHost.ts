import { channelsFrom, type Channel, type ChannelConfig, type ChannelName } from '../actors/channels';
import { NodeActor, type IngestBatch, type NodeOptions } from '../actors/NodeActor';
import { DEFAULT_SENDER, type SenderOptions } from '../actors/Sender';
import { DEFAULT_PUSH_CAP, type DeliveryJob, type PushCap } from '../actors/Settings';
import { pack } from '../storage/Codec';
import { HeraldError } from '../storage/HeraldError';
import { META_PREFIX } from '../storage/Keyspace';
import { createLogger } from '../storage/logger';
import { NodeStore } from '../storage/NodeStore';
import { NodeRef, answer, type ActorHandle } from './NodeRef';

/** What the gateway hands a node actor at creation (comedy `customParameters`: plain JSON). */
export interface NodeParams extends Omit<NodeOptions, 'delivery'> {
  dataDir: string;
  syncWrites: boolean;
  logLevel: string;
  channels?: ChannelConfig;
  pushCap?: PushCap;
  pushCapByType?: Record<string, PushCap>;
  sender?: SenderOptions;
}

const TABLE_KEY = META_PREFIX + 'table';
/** A fanout batch to another node may wait behind that node's own work: allow it more than a triggered call. */
const RELAY_TIMEOUT_MS = 30_000;

/** The shard table as a node keeps it. */
interface TableView {
  epoch: number;
  shards: number[];
  owners: string[];
}

/**
 * The comedy actor definition of a node: comedy loads this module by path in the node's own process (forked or
 * on a remote listener). It opens the node's LevelDB, hosts a NodeActor, and exposes one `call` handler that
 * decodes transport payloads and encodes replies and errors (see NodeRef).
 */
class NodeHost {
  private node?: NodeActor;
  private store?: NodeStore;
  private channels = new Map<ChannelName, Channel>();
  /** Work accepted and not yet answered, by priority: events of ingest batches, followers of fanout batches. */
  private readonly queued = { triggered: 0, bulk: 0 };

  async initialize(selfActor: { getCustomParameters(): NodeParams; getParent(): ActorHandle }): Promise<void> {
    const params = selfActor.getCustomParameters();
    const log = createLogger('node', params.logLevel).child({ node: params.nodeId });
    this.store = await NodeStore.openWhenFree(params.dataDir, { syncWrites: params.syncWrites });
    // Other nodes are reached through the gateway (the comedy parent), which delivers what they notify.
    const gateway = new NodeRef('gateway', selfActor.getParent(), RELAY_TIMEOUT_MS, 0, false, 'relay');
    const channels = params.channels ? channelsFrom(params.channels, { logger: log }) : new Map<ChannelName, Channel>();
    const delivery = { channels: new Set(channels.keys()), pushCap: params.pushCap ?? DEFAULT_PUSH_CAP, pushCapByType: params.pushCapByType ?? {} };
    this.node = new NodeActor(
      this.store,
      { ...params, delivery },
      log,
      (node, batch) => gateway.call('fanoutBatch', { node, batch }),
      (deliveries) => gateway.call('deliver', { deliveries }),
    );
    const defaultLocale = params.channels?.defaultLocale ?? 'en';
    // The sender hands each queued job to its channel as an outbound message.
    const ports = new Map([...channels].map(([name, ch]) => [name, { send: (job: DeliveryJob) => ch.send({ ...job, locale: job.locale ?? defaultLocale }) }] as const));
    this.node.startDelivery(ports, params.sender ?? DEFAULT_SENDER);
    this.channels = channels;
    // A respawned node resumes with the table it last acknowledged, so it keeps fencing by epoch.
    const table = this.store.getSync<TableView>(TABLE_KEY);
    if (table) this.node.setTable(table.epoch, table.shards, table.owners);
    await this.node.start();
    // comedy's own handlers exit at once, skipping the LevelDB close. SIGTERM (an operator bouncing this node)
    // closes cleanly; SIGINT is ignored: a Ctrl-C reaches the whole process group, and the gateway stops us.
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    const leave = () => void this.destroy().finally(() => process.exit(0));
    process.once('SIGTERM', leave);
    process.on('SIGINT', () => undefined);
    // Forked: the gateway is gone, so nothing can reach this node any more.
    process.once('disconnect', leave);
    log.info({ pid: process.pid }, 'node started');
  }

  call(payload: string): Promise<string> {
    return answer(payload, (op, args) => this.dispatch(op, args));
  }

  private async dispatch(op: string, a: any): Promise<unknown> {
    const node = this.node;
    if (!node || !this.store) throw new HeraldError('HERALD_UNAVAILABLE', 'node is starting');
    switch (op) {
      case 'ingest':
        return this.counting('triggered', (a as IngestBatch).items.length, node.ingest(a as IngestBatch));
      case 'timeline':
        return node.timeline(a.user, a.before, a.limit);
      case 'since':
        return node.since(a.user, a.since, a.limit);
      case 'read':
        return node.markRead(a.user, a.upTo);
      case 'setTable':
        await this.store.durable.write([{ type: 'put', key: TABLE_KEY, value: pack(a) }]);
        node.setTable(a.epoch, a.shards, a.owners);
        node.fanout.kick();
        return null;
      case 'beginHandoff':
        return node.handoff.begin(a.shard);
      case 'freezeShard':
        return node.handoff.freeze(a.shard);
      case 'unfreezeShard':
        return node.handoff.unfreeze(a.shard);
      case 'exportShard':
        return node.handoff.export(a.shard, a.limit);
      case 'exportDelta':
        return node.handoff.delta(a.shard);
      case 'importShard':
        return node.handoff.import(a.shard, a.frame, a.last);
      case 'dropShard':
        return node.handoff.drop(a.shard);
      case 'strayShards':
        return node.handoff.strays();
      case 'shardSizes':
        return node.handoff.sizes();
      case 'fanoutBatch':
        return this.counting('bulk', a.followers?.length ?? 0, node.fanoutBatch(a));
      case 'settings':
        return node.settings(a.user, a.patch);
      case 'deadLetters':
        return node.deadLetters(a.limit ?? 1000);
      case 'replayDeadLetters':
        return node.replayDeadLetters(a.ids);
      case 'explain':
        return node.followers.explain(a.user, a.tweet);
      // BENCH ONLY (bench/fanout.ts baseline): one follower's interest profile data per request, the "no
      // co-location" path that personalized fanout avoids. Nothing in herald calls it; read-only.
      case 'profileOf':
        return (await node.followers.profilesOf([a.user]))[0].toData();
      case 'stats':
        return {
          ...node.stats(),
          pid: process.pid,
          rss: process.memoryUsage().rss,
          queued: { ...this.queued },
          store: { durable: this.store.durable.stats, applied: this.store.applied.stats },
        };
      case 'ping':
        return { pid: process.pid };
      default:
        throw new HeraldError('HERALD_UNKNOWN_OP', `unknown node op ${op}`);
    }
  }

  /** Counts `n` units of work as queued at `priority` until `work` settles (the queue depths of GET /metrics). */
  private async counting<T>(priority: 'triggered' | 'bulk', n: number, work: Promise<T>): Promise<T> {
    this.queued[priority] += n;
    try {
      return await work;
    } finally {
      this.queued[priority] -= n;
    }
  }

  async destroy(): Promise<void> {
    const node = this.node;
    this.node = undefined;
    if (node) await node.stop();
    await Promise.allSettled([...this.channels.values()].map((c) => c.close()));
  }
}

module.exports = NodeHost;
