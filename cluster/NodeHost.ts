import { channelsFrom, type Channel, type ChannelName } from '../actors/delivery/channels';
import { NodeActor } from '../actors/node/NodeActor';
import { markOf } from '../actors/node/Presence';
import { pack, unpack } from '../core/Codec';
import { CHANNEL_DEFAULTS, readEnvironment, type NodeParams } from '../core/config';
import type { BenchOps, GatewayNotices, IngestBatch, IngestCall, NodeOps, OpHandlers, RelayCall, TableCall } from '../core/nodeProtocol';
import type { DeliveryJob } from '../core/OutboundDelivery';
import { HeraldError } from '../core/HeraldError';
import { META_PREFIX } from '../storage/Keyspace';
import { createLogger } from '../core/logger';
import { NodeStore } from '../storage/NodeStore';
import { ingestReplyOf } from './IngestReply';
import { LinkServer } from './LinkServer';
import { HANDSHAKE_MS, type LinkHandler, type LinkOptions } from './NodeLink';
import { NodePeers } from './NodePeers';
import { answer, callOverComedy, type ActorHandle } from './NodeRef';

/** What the gateway hands a node actor at creation (comedy `customParameters`: plain JSON). */
export interface NodeHostParams extends NodeParams {
  /** The cluster's link secret and frame limit (ActorRuntime fills them in; without them the node has no links). */
  link?: { secret: string; maxFrame: number };
  /**
   * Also answer the bench-only ops (BenchOps); set only by the benchmarks that call them (bench/fanout.ts's
   * baseline, bench/transport.ts). @defaultValue false: they answer HERALD_UNKNOWN_OP
   */
  benchOps?: boolean;
}

/** One op's handler as the dispatch sees it: arguments off the wire, taken as the op's (OpHandlers types each). */
type Handler = (args: unknown, from: string) => unknown;

const TABLE_KEY = META_PREFIX + 'table';
/** A fanout batch to another node may wait behind that node's own work: allow it more than a triggered call. */
const FANOUT_TIMEOUT_MS = 30_000;
/** Deadline of a node's deliveries handed to the gateway through comedy (before its link is up). */
const RELAY_TIMEOUT_MS = 30_000;

/**
 * The comedy actor definition of a node: comedy loads this module by path in the node's own process (forked or
 * on a remote listener). It opens the node's LevelDB, hosts a NodeActor, and answers calls on two ways in: its
 * link listener (LinkServer: the gateway and the other nodes, direct) and comedy's `call` handler (the gateway,
 * before its link is up). It reaches other nodes over its own links (NodePeers).
 */
class NodeHost {
  private node?: NodeActor;
  private store?: NodeStore;
  private links?: LinkServer;
  private peers?: NodePeers;
  private channels = new Map<ChannelName, Channel>();
  /** The ops this node answers, by name: a Map, since a plain object would answer 'toString' or '__proto__'. */
  private ops = new Map<string, Handler>();
  /** Work accepted and not yet answered, by priority: events of ingest batches, followers of fanout batches. */
  private readonly queued = { triggered: 0, bulk: 0 };

  async initialize(selfActor: { getCustomParameters(): NodeHostParams; getParent(): ActorHandle }): Promise<void> {
    const params = selfActor.getCustomParameters();
    const log = createLogger('node', params.logLevel).child({ node: params.nodeId });
    this.store = await NodeStore.openWhenFree(params.dataDir, { syncWrites: params.syncWrites, writeBufferMb: params.writeBufferMb });
    // A failed write leaves the actors' memory ahead of LevelDB: exit, and comedy respawns us from what is on disk.
    this.store.onFailure((err) => {
      log.fatal({ err }, 'storage write failed; exiting to restart from disk');
      process.exit(1);
    });
    // Deliveries go to the gateway on its link; before it is up, through comedy (the parent's `relay`).
    const parent = selfActor.getParent();
    this.toGateway = (op, notice) => {
      if (this.links?.links.get('gateway')?.notify(op, notice)) return;
      const relayed: RelayCall = { op, args: { ...notice, node: params.nodeId } };
      callOverComedy(parent, 'relay', 'gateway', relayed.op, relayed.args, RELAY_TIMEOUT_MS).catch((err) =>
        log.warn({ err }, 'deliveries not handed to the gateway'),
      );
    };
    if (params.link) {
      // The same private address comedy binds (the listener's, in remote mode), never all interfaces.
      const host = readEnvironment().COMEDY_BIND_HOST;
      const opts: LinkOptions = { secret: params.link.secret, maxFrame: params.link.maxFrame, handshakeMs: HANDSHAKE_MS };
      const handler: LinkHandler = (op, args, link) => this.dispatch(op, args, link.peer);
      this.links = await LinkServer.listen(host, opts, handler, log);
      this.peers = new NodePeers(params.nodeId, opts, log, handler);
    }
    const peers = this.peers;
    const channels = params.channels ? channelsFrom(params.channels, { logger: log }) : new Map<ChannelName, Channel>();
    const delivery = { channels: new Set(channels.keys()), pushCap: params.pushCap, pushCapByType: params.pushCapByType };
    this.node = new NodeActor(
      this.store,
      { ...params, delivery },
      log,
      {
        call: (node, op, args, timeoutMs = FANOUT_TIMEOUT_MS) =>
          peers ? peers.call(node, op, args, timeoutMs) : Promise.reject(new HeraldError('HERALD_UNAVAILABLE', 'this node has no links')),
      },
      async (deliveries) => this.toGateway('deliver', { deliveries }),
    );
    this.ops = byName(this.handlers(this.node, this.store), params.benchOps ? benchHandlers(this.node) : {});
    const defaultLocale = params.channels?.defaultLocale ?? CHANNEL_DEFAULTS.defaultLocale;
    // The sender hands each queued job to its channel as an outbound message.
    const ports = new Map(
      [...channels].map(([name, ch]) => [name, { send: (job: DeliveryJob) => ch.send({ ...job, locale: job.locale ?? defaultLocale }) }] as const),
    );
    this.node.startDelivery(ports, params.sender);
    this.channels = channels;
    // A respawned node resumes with the table it last acknowledged, so it keeps fencing by epoch.
    const table = this.store.getSync<TableCall>(TABLE_KEY);
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
    log.info({ pid: process.pid, link: this.links?.address }, 'node started');
  }

  /** Hands a one-way notice to the gateway (its link, else comedy). */
  private toGateway: <K extends keyof GatewayNotices>(op: K, notice: GatewayNotices[K]) => void = () => undefined;

  call(payload: string): Promise<string> {
    return answer(payload, (op, args) => this.dispatch(op, args, 'gateway'));
  }

  /** Runs one call; `from` is who made it ('gateway', or the node id a peer link authenticated as). */
  private async dispatch(op: string, args: unknown, from: string): Promise<unknown> {
    if (!this.node) throw new HeraldError('HERALD_UNAVAILABLE', 'node is starting');
    const handle = this.ops.get(op);
    if (!handle) throw new HeraldError('HERALD_UNKNOWN_OP', `unknown node op ${op}`);
    return handle(args, from);
  }

  /** The node ops. Arguments come off the wire: those of `presence`, `fanoutBatch` and `since`'s mark are checked. */
  private handlers(node: NodeActor, store: NodeStore): OpHandlers<NodeOps> {
    return {
      ingest: async (a) => {
        const batch = ingestBatchOf(a);
        return ingestReplyOf(await this.counting('triggered', batch.items.length, node.ingest(batch)));
      },
      timeline: (a) => node.timeline(a.user, a.before, a.limit),
      since: (a) => node.since(a.user, a.since, a.limit, markOf(a.presence)),
      presence: (a) => node.updatePresence(a),
      read: (a) => node.markRead(a.user, a.upTo),
      setTable: async (a) => {
        await store.durable.write([{ type: 'put', key: TABLE_KEY, value: pack({ epoch: a.epoch, shards: a.shards, owners: a.owners }) }]);
        const had = node.region.owned;
        node.setTable(a.epoch, a.shards, a.owners);
        // Fanout jobs move with their author's shard: only a shard gained can bring new ones.
        const gained = a.shards.filter((s) => !had.has(s));
        if (gained.length) node.fanout.kick(gained);
        return null;
      },
      beginHandoff: (a) => node.handoff.begin(a.shard),
      freezeShard: (a) => node.handoff.freeze(a.shard),
      unfreezeShard: (a) => node.handoff.unfreeze(a.shard),
      exportShard: (a) => node.handoff.export(a.shard, a.limit),
      exportDelta: (a) => node.handoff.delta(a.shard),
      importShard: (a) => node.handoff.import(a.shard, a.frame, a.last, a.indexed === true),
      reachPeer: (a) => node.handoff.reach(a.node),
      // A delta is read whole: it has no limit.
      pullShard: (a) => (a.delta ? node.handoff.pull(a.shard, a.from, 0, true) : node.handoff.pull(a.shard, a.from, a.limit, a.delta)),
      dropShard: (a) => node.handoff.drop(a.shard, a.keysPerS),
      strayShards: () => node.handoff.strays(),
      shardSizes: () => node.handoff.sizes(),
      setPeers: (a) => {
        // No fanout kick: a page that failed on an unreachable peer retries by itself.
        this.peers?.set(a.version, a.peers);
        return null;
      },
      fanoutBatch: async (a, from) => {
        // From the author's node: the notifications go straight to the gateway's sockets, the counts back.
        const res = await this.counting('bulk', a.followers?.length ?? 0, node.fanoutBatch(a));
        this.toGateway('deliver', { deliveries: res.deliveries, fanout: { from, decided: res.decided, notified: res.notified } });
        return { decided: res.decided, notified: res.notified };
      },
      settings: (a) => node.settings(a.user, a.patch),
      deadLetters: (a) => node.deadLetters(a.limit),
      replayDeadLetters: (a) => node.replayDeadLetters(a.ids),
      explain: (a) => node.followers.explain(a.user, a.tweet),
      stats: () => ({
        ...node.stats(),
        pid: process.pid,
        rss: process.memoryUsage().rss,
        queued: { ...this.queued },
        links: { address: this.links?.address, sent: this.peers?.sent ?? {}, received: this.links?.received ?? {}, refused: this.links?.refused ?? 0 },
        store: { durable: store.durable.stats, applied: store.applied.stats },
      }),
      ping: () => ({ pid: process.pid, link: this.links?.address }),
    };
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
    this.peers?.close();
    this.links?.close();
    await Promise.allSettled([...this.channels.values()].map((c) => c.close()));
  }
}

/**
 * An ingest call's batch: the gateway sends its items packed once (msgpack bin inside the call's frame), so the
 * node writes those bytes as its ingest log entry instead of packing the items again; a plain array is taken too.
 */
function ingestBatchOf(a: IngestCall): IngestBatch {
  if (!(a.items instanceof Uint8Array)) return a as IngestBatch;
  // A Buffer over the same bytes (no copy): LevelDB's native put takes Buffers.
  const packed = Buffer.from(a.items.buffer, a.items.byteOffset, a.items.byteLength);
  return { epoch: a.epoch, items: unpack<IngestBatch['items']>(packed), packed };
}

/**
 * Handlers by op name, for the names that come off the wire: where the arguments are taken as their op's, as a
 * call's bytes were always taken (the ops that validate theirs do so in the actors).
 */
function byName(...tables: Array<OpHandlers<NodeOps> | OpHandlers<BenchOps> | Record<string, never>>): Map<string, Handler> {
  return new Map(tables.flatMap((t) => Object.entries(t)));
}

/** The bench-only ops (BenchOps), registered only on a node created with `benchOps`. */
function benchHandlers(node: NodeActor): OpHandlers<BenchOps> {
  return {
    // bench/fanout.ts's baseline: one follower's interest profile data per request, the "no co-location" path
    // that personalized fanout avoids. Read-only.
    profileOf: async (a) => (await node.followers.profilesOf([a.user]))[0].toData(),
    // bench/transport.ts: its arguments back, to time the call path alone.
    echo: (a) => a,
  };
}

module.exports = NodeHost;
