import { channelsFrom, type Channel, type ChannelName } from '../actors/delivery/channels';
import type { DeliveryJob } from '../actors/delivery/Settings';
import { NodeActor } from '../actors/node/NodeActor';
import { markOf } from '../actors/node/Presence';
import { pack, unpack } from '../core/Codec';
import { CHANNEL_DEFAULTS, readEnvironment, type NodeParams } from '../core/config';
import type { IngestBatch } from '../core/nodeProtocol';
import { HeraldError } from '../core/HeraldError';
import { META_PREFIX } from '../storage/Keyspace';
import { createLogger } from '../core/logger';
import { NodeStore } from '../storage/NodeStore';
import { ingestReplyOf } from './IngestReply';
import { LinkServer } from './LinkServer';
import { HANDSHAKE_MS, type LinkHandler, type LinkOptions } from './NodeLink';
import { NodePeers } from './NodePeers';
import { NodeRef, answer, type ActorHandle, type Ping } from './NodeRef';

/** What the gateway hands a node actor at creation (comedy `customParameters`: plain JSON). */
export interface NodeHostParams extends NodeParams {
  /** The cluster's link secret and frame limit (ActorRuntime fills them in; without them the node has no links). */
  link?: { secret: string; maxFrame: number };
}

const TABLE_KEY = META_PREFIX + 'table';
/** A fanout batch to another node may wait behind that node's own work: allow it more than a triggered call. */
const FANOUT_TIMEOUT_MS = 30_000;
/** Deadline of a node's deliveries handed to the gateway through comedy (before its link is up). */
const RELAY_TIMEOUT_MS = 30_000;

/** The shard table as a node keeps it. */
interface TableView {
  epoch: number;
  shards: number[];
  owners: string[];
}

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
    const parent = new NodeRef('gateway', selfActor.getParent(), RELAY_TIMEOUT_MS, 0, false, 'relay');
    this.toGateway = (op, args) => {
      if (this.links?.links.get('gateway')?.notify(op, args)) return;
      parent.call(op, { ...args, node: params.nodeId }).catch((err) => log.warn({ err }, 'deliveries not handed to the gateway'));
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
    const defaultLocale = params.channels?.defaultLocale ?? CHANNEL_DEFAULTS.defaultLocale;
    // The sender hands each queued job to its channel as an outbound message.
    const ports = new Map([...channels].map(([name, ch]) => [name, { send: (job: DeliveryJob) => ch.send({ ...job, locale: job.locale ?? defaultLocale }) }] as const));
    this.node.startDelivery(ports, params.sender);
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
    log.info({ pid: process.pid, link: this.links?.address }, 'node started');
  }

  /** Hands a one-way message to the gateway (its link, else comedy). */
  private toGateway: (op: string, args: Record<string, unknown>) => void = () => undefined;

  call(payload: string): Promise<string> {
    return answer(payload, (op, args) => this.dispatch(op, args, 'gateway'));
  }

  /** Runs one call; `from` is who made it ('gateway', or the node id a peer link authenticated as). */
  private async dispatch(op: string, a: any, from: string): Promise<unknown> {
    const node = this.node;
    if (!node || !this.store) throw new HeraldError('HERALD_UNAVAILABLE', 'node is starting');
    switch (op) {
      case 'ingest': {
        const batch = ingestBatchOf(a);
        return ingestReplyOf(await this.counting('triggered', batch.items.length, node.ingest(batch)));
      }
      case 'timeline':
        return node.timeline(a.user, a.before, a.limit);
      case 'since':
        return node.since(a.user, a.since, a.limit, markOf(a.presence));
      case 'presence':
        return node.updatePresence(a);
      case 'read':
        return node.markRead(a.user, a.upTo);
      case 'setTable': {
        await this.store.durable.write([{ type: 'put', key: TABLE_KEY, value: pack({ epoch: a.epoch, shards: a.shards, owners: a.owners }) }]);
        const had = node.region.owned;
        node.setTable(a.epoch, a.shards, a.owners);
        // Fanout jobs move with their author's shard: only a shard gained can bring new ones.
        const gained = (a.shards as number[]).filter((s) => !had.has(s));
        if (gained.length) node.fanout.kick(gained);
        return null;
      }
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
        return node.handoff.import(a.shard, a.frame, a.last, a.indexed === true);
      case 'reachPeer':
        return node.handoff.reach(a.node);
      case 'pullShard':
        return node.handoff.pull(a.shard, a.from, a.limit, a.delta);
      case 'dropShard':
        return node.handoff.drop(a.shard, a.keysPerS);
      case 'strayShards':
        return node.handoff.strays();
      case 'shardSizes':
        return node.handoff.sizes();
      case 'setPeers':
        // No fanout kick: a page that failed on an unreachable peer retries by itself.
        this.peers?.set(a.version, a.peers ?? {});
        return null;
      case 'fanoutBatch': {
        // From the author's node: the notifications go straight to the gateway's sockets, the counts back.
        const res = await this.counting('bulk', a.followers?.length ?? 0, node.fanoutBatch(a));
        this.toGateway('deliver', { deliveries: res.deliveries, fanout: { from, decided: res.decided, notified: res.notified } });
        return { decided: res.decided, notified: res.notified };
      }
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
      // BENCH ONLY (bench/transport.ts): answers its arguments, to time the call path alone.
      case 'echo':
        return a;
      case 'stats':
        return {
          ...node.stats(),
          pid: process.pid,
          rss: process.memoryUsage().rss,
          queued: { ...this.queued },
          links: { address: this.links?.address, sent: this.peers?.sent ?? {}, received: this.links?.received ?? {}, refused: this.links?.refused ?? 0 },
          store: { durable: this.store.durable.stats, applied: this.store.applied.stats },
        };
      case 'ping':
        return { pid: process.pid, link: this.links?.address } satisfies Ping;
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
    this.peers?.close();
    this.links?.close();
    await Promise.allSettled([...this.channels.values()].map((c) => c.close()));
  }
}

/**
 * An ingest call's batch: the gateway sends its items packed once (msgpack bin inside the call's frame), so the
 * node writes those bytes as its ingest log entry instead of packing the items again; a plain array is taken too.
 */
function ingestBatchOf(a: { epoch: number; items: IngestBatch['items'] | Uint8Array }): IngestBatch {
  if (!(a.items instanceof Uint8Array)) return a as IngestBatch;
  // A Buffer over the same bytes (no copy): LevelDB's native put takes Buffers.
  const packed = Buffer.from(a.items.buffer, a.items.byteOffset, a.items.byteLength);
  return { epoch: a.epoch, items: unpack<IngestBatch['items']>(packed), packed };
}

module.exports = NodeHost;
