import { HeraldError } from '../core/HeraldError';
import type { Logger } from '../core/logger';
import type { PackedDelivery } from '../core/nodeProtocol';
import type { PulledPart, ShardPart } from '../core/ShardPart';
import type { ActorRuntime } from './ActorRuntime';
import type { AllocationStrategy } from './AllocationStrategy';
import { NodeChannel, type ChannelOptions, type SentItem } from './NodeChannel';
import type { NodeParams } from '../core/config';
import type { NodeRef } from './NodeRef';
import type { ShardTable } from './ShardTable';
import type { Move, NodeSpec } from './ShardTableData';

/** Parts of one move in flight at once (read in order by the old owner, written by the new). */
const MOVE_PIPELINE = 3;

export interface CoordinatorOptions {
  tableFile: string;
  /** Where shards should live (RingAllocation: the consistent-hash ring). */
  strategy: AllocationStrategy;
  channel: ChannelOptions;
  /** Keys per export/import message of a handoff (`moveBatchKeys`). */
  moveBatchKeys: number;
  /** Pause between those messages (`moveThrottleMs`). */
  moveThrottleMs: number;
  /**
   * Keys copied per second by all moves together, and deleted per second by an old owner dropping its copy: what
   * a rebalance may take from the nodes' own work. 0 = unpaced.
   */
  moveKeysPerS: number;
  /** Events held for one moving shard; past it publishes get HERALD_UNAVAILABLE (`moveBufferMax`). */
  moveBufferMax: number;
  /** Parameters of a node process by spec. */
  nodeParams: (spec: NodeSpec) => NodeParams;
  /** Delivers notifications that nodes report. */
  deliver: (deliveries: PackedDelivery[], sent: readonly SentItem[]) => void;
  /**
   * A move flipped and the new owner has the table: hand it what belongs with the shard outside LevelDB (the
   * presence of its users). Awaited before the shard's held events flow. @defaultValue none
   */
  handOver?: (shard: number, to: NodeRef) => Promise<void>;
}

/** Progress of the current (or last) admin operation, for `admin status` and its progress bar. */
export interface OperationProgress {
  operation: string;
  state: 'running' | 'done' | 'failed';
  shardsTotal: number;
  shardsDone: number;
  shardsFailed: number;
  keysMoved: number;
  bytesMoved: number;
  /** Moves whose parts went straight from the old owner to the new one (the others were relayed by the gateway). */
  shardsDirect: number;
  active: number[];
  startedAt: number;
  finishedAt?: number;
  error?: string;
}

interface Hold {
  released: Promise<void>;
  release: () => void;
  waiting: number;
}

/**
 * The placement authority (Akka's ShardCoordinator): owns the shard table and the node actors, and moves shards
 * live. A move: the old owner streams a snapshot of the shard to the new owner while it keeps serving it; then the
 * router holds the shard's events, the old owner freezes the shard and sends the keys written since the snapshot,
 * the table flips with a new epoch and reaches every node, held events flow to the new owner, and only then does
 * the old owner delete its copy. Every step is recorded in the persisted table, so a coordinator restarted mid-move rolls back a copy
 * that had not flipped and finishes the cleanup of one that had: a shard always has exactly one owner with all
 * its data.
 */
export class Coordinator {
  readonly nodes = new Map<string, NodeRef>();
  readonly channels = new Map<string, NodeChannel>();
  private readonly holds = new Map<number, Hold>();
  /** Old copies being dropped after their moves flipped. */
  private readonly cleanups = new Set<Promise<void>>();
  /** When the next part of any move may start (moveKeysPerS). */
  private paceAt = 0;
  private op?: OperationProgress;

  constructor(
    readonly table: ShardTable,
    private readonly runtime: ActorRuntime,
    private readonly opts: CoordinatorOptions,
    private readonly log: Logger,
  ) {}

  /** Starts every node of the table, finishes or rolls back interrupted moves, and gives every node the table. */
  async start(): Promise<void> {
    await Promise.all(this.table.data.nodes.map((spec) => this.spawn(spec)));
    await this.recover();
    await this.broadcastTable();
  }

  private async spawn(spec: NodeSpec): Promise<NodeRef> {
    const ref = await this.runtime.spawn(spec, this.opts.nodeParams(spec));
    this.nodes.set(spec.id, ref);
    this.channels.set(spec.id, new NodeChannel(ref, this.opts.channel, () => this.table.epoch, this.opts.deliver));
    return ref;
  }

  node(id: string): NodeRef {
    const ref = this.nodes.get(id);
    if (!ref) throw new HeraldError('HERALD_UNAVAILABLE', `no node ${id}`);
    return ref;
  }

  /** Sends the current table to one node (also after comedy respawned it: a new process starts from its own copy). */
  sendTable(ref: NodeRef): Promise<unknown> {
    return ref.call('setTable', { epoch: this.table.epoch, shards: this.table.shardsOf(ref.id), owners: this.table.owners });
  }

  async broadcastTable(): Promise<void> {
    const results = await Promise.allSettled([...this.nodes.values()].map((ref) => this.sendTable(ref)));
    results.forEach(
      (r, i) => r.status === 'rejected' && this.log.warn({ node: [...this.nodes.keys()][i] }, 'node missed the table; it gets it when it answers again'),
    );
  }

  private save(): void {
    this.table.save(this.opts.tableFile);
  }

  /** Resolves when `shard` is not moving; the router awaits it before routing the shard's events (bounded). */
  waitForShard(shard: number): Promise<void> | undefined {
    const hold = this.holds.get(shard);
    if (!hold) return undefined;
    if (hold.waiting >= this.opts.moveBufferMax) throw new HeraldError('HERALD_UNAVAILABLE', `shard ${shard} is moving; retry`);
    hold.waiting++;
    return hold.released.finally(() => hold.waiting--);
  }

  private hold(shard: number): void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(shard, { released, release, waiting: 0 });
  }

  private unhold(shard: number): void {
    this.holds.get(shard)?.release();
    this.holds.delete(shard);
  }

  private async recover(): Promise<void> {
    for (const move of this.table.moves) {
      this.log.warn({ move }, move.phase === 'copying' ? 'rolling back an interrupted move' : 'finishing an interrupted move');
      if (move.phase === 'copying') {
        await this.nodes
          .get(move.to)
          ?.call('dropShard', { shard: move.shard })
          .catch(() => undefined);
        await this.nodes
          .get(move.from)
          ?.call('unfreezeShard', { shard: move.shard })
          .catch(() => undefined);
      } else
        await this.nodes
          .get(move.from)
          ?.call('dropShard', { shard: move.shard })
          .catch(() => undefined);
      this.table.endMove(move.shard);
    }
    this.save();
  }

  /**
   * Moves one shard to `to`, live: the new owner pulls a snapshot of the shard straight from the old owner, which
   * keeps serving it (a few parts in flight, written unsynced; relayed through here if their link is not up);
   * then the router holds the shard's events, the old owner freezes it and sends only the keys written since the
   * snapshot, the new owner makes it all durable, and the table flips. On a failure before the flip, rolls back:
   * the old owner keeps it.
   */
  async move(shard: number, to: string): Promise<void> {
    const move = this.table.beginMove(shard, to);
    const from = this.node(move.from);
    const target = this.node(to);
    this.save();
    const parts = new Set<Promise<void>>();
    let failed: unknown;
    const count = (part: { keys: number; bytes: number }) => {
      if (!this.op) return;
      this.op.keysMoved += part.keys;
      this.op.bytesMoved += part.bytes;
    };
    let held = false;
    try {
      // A copy left by an earlier move that failed while `to` was down would keep keys deleted since.
      await target.call('dropShard', { shard }, 60_000);
      await from.call('beginHandoff', { shard }, 60_000);
      // Parts go straight from the old owner to the new one when their link is up; else they are relayed here.
      const direct = await target.call('reachPeer', { node: move.from }, 10_000).catch(() => false);
      if (direct && this.op) this.op.shardsDirect++;
      const limit = this.opts.moveBatchKeys;
      // A part of the snapshot, or the delta: the last part (it has no `done` of its own).
      const relay = async (reading: Promise<ShardPart & { done?: boolean; indexed?: boolean }>, last: boolean): Promise<PulledPart> => {
        const part = await reading;
        if (part.keys || last) await target.call('importShard', { shard, frame: part.frame, last, indexed: part.indexed }, 60_000);
        return { keys: part.keys, bytes: part.bytes, done: part.done ?? last };
      };
      const next = direct
        ? () => target.call('pullShard', { shard, from: move.from, limit }, 60_000)
        : () => relay(from.call('exportShard', { shard, limit }, 60_000), false);
      // A few parts in flight: the old owner reads them in order while the new owner writes the ones before.
      let done = false;
      while (!done && !failed) {
        const p: Promise<void> = next().then(
          (part) => {
            count(part);
            done ||= part.done;
          },
          (err) => {
            failed ??= err;
          },
        );
        parts.add(p);
        void p.finally(() => parts.delete(p));
        if (parts.size >= MOVE_PIPELINE) await Promise.race(parts);
        if (this.opts.moveThrottleMs) await new Promise((r) => setTimeout(r, this.opts.moveThrottleMs));
        await this.paced(limit);
      }
      await Promise.all(parts);
      if (failed) throw failed;
      // The tail: only this part holds the shard's events.
      this.hold(shard);
      held = true;
      await from.call('freezeShard', { shard }, 60_000);
      count(
        direct
          ? await target.call('pullShard', { shard, from: move.from, delta: true }, 60_000)
          : await relay(from.call('exportDelta', { shard }, 60_000), true),
      );
    } catch (err) {
      this.log.warn({ err, shard, to }, 'move failed before the flip; rolling back');
      // No part may land after the drop.
      await Promise.allSettled(parts);
      await target.call('dropShard', { shard }).catch(() => undefined);
      await from.call('unfreezeShard', { shard }).catch(() => undefined);
      this.table.endMove(shard);
      this.save();
      if (held) this.unhold(shard);
      throw err;
    }
    this.table.flip(shard);
    this.save();
    // The held events may go as soon as the new owner has the table; the other nodes get it meanwhile.
    const sent = [...this.nodes].map(([id, ref]) =>
      this.sendTable(ref).then(
        () => undefined,
        () => this.log.warn({ node: id }, 'node missed the table; it gets it when it answers again'),
      ),
    );
    await sent[[...this.nodes.keys()].indexOf(to)];
    await this.opts.handOver?.(shard, target).catch((err) => this.log.warn({ err, shard }, 'shard handed over without its presence'));
    this.unhold(shard);
    await Promise.all(sent);
    // The old copy goes while the next moves copy (the operation ends once every old copy is gone).
    const cleanup = from
      .call('dropShard', { shard, keysPerS: this.opts.moveKeysPerS }, 600_000)
      .catch((err) => this.log.warn({ err, shard }, 'old copy not dropped yet'))
      .then(() => {
        this.table.endMove(shard);
        this.save();
      });
    this.cleanups.add(cleanup);
    void cleanup.finally(() => this.cleanups.delete(cleanup));
  }

  /** Waits until `keys` more fit in moveKeysPerS (a schedule shared by every move; no credit for idle time). */
  private async paced(keys: number): Promise<void> {
    const rate = this.opts.moveKeysPerS;
    if (!rate) return;
    const now = Date.now();
    const start = Math.max(this.paceAt, now);
    this.paceAt = start + (keys / rate) * 1000;
    if (start > now) await new Promise((r) => setTimeout(r, start - now));
  }

  /** Runs moves with at most `concurrency` at a time; one admin operation at a time. */
  async execute(operation: string, moves: Array<{ shard: number; to: string }>, concurrency: number): Promise<OperationProgress> {
    if (this.op?.state === 'running') throw new HeraldError('HERALD_BUSY', `${this.op.operation} is running`);
    const op: OperationProgress = {
      operation,
      state: 'running',
      shardsTotal: moves.length,
      shardsDone: 0,
      shardsFailed: 0,
      keysMoved: 0,
      bytesMoved: 0,
      shardsDirect: 0,
      active: [],
      startedAt: Date.now(),
    };
    this.op = op;
    this.log.info({ operation, shards: moves.length, concurrency }, 'operation started');
    const queue = [...moves];
    const worker = async () => {
      for (let m = queue.shift(); m; m = queue.shift()) {
        op.active.push(m.shard);
        try {
          await this.move(m.shard, m.to);
          op.shardsDone++;
        } catch (err) {
          op.shardsFailed++;
          op.error = HeraldError.from(err).message;
        } finally {
          op.active = op.active.filter((s) => s !== m!.shard);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    while (this.cleanups.size) await Promise.all(this.cleanups);
    op.state = op.shardsFailed ? 'failed' : 'done';
    op.finishedAt = Date.now();
    this.log.info({ ...op, active: undefined }, 'operation finished');
    return op;
  }

  get progress(): OperationProgress | undefined {
    return this.op;
  }

  /** The moves a rebalance would make now: every shard to where the allocation strategy wants it. */
  plan(): Array<{ shard: number; from: string; to: string }> {
    return this.table.plan(this.opts.strategy.allocate(this.table.data));
  }

  /** Rebalance: move every shard to where the allocation strategy wants it. */
  rebalance(concurrency: number, operation = 'rebalance'): Promise<OperationProgress> {
    return this.execute(operation, this.plan(), concurrency);
  }

  /** Pins a shard to a node (so rebalances keep it there) and moves it. */
  moveShard(shard: number, to: string): Promise<OperationProgress> {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.table.shardCount) throw new HeraldError('HERALD_INVALID_MESSAGE', `no shard ${shard}`);
    this.node(to);
    this.table.data.pins[shard] = to;
    this.save();
    if (this.table.ownerOf(shard) === to) return this.execute(`move-shard ${shard}`, [], 1);
    return this.execute(`move-shard ${shard}`, [{ shard, to }], 1);
  }

  /** Adds a node (forked here, or on a listener at `host`) that owns nothing until a rebalance. */
  async addNode(host?: string): Promise<NodeRef> {
    const ids = new Set(this.table.data.nodes.map((n) => n.id));
    let i = ids.size + 1;
    while (ids.has(`node-${i}`)) i++;
    const spec: NodeSpec = host ? { id: `node-${i}`, host } : { id: `node-${i}` };
    const ref = await this.spawn(spec);
    this.table.data.nodes.push(spec);
    this.save();
    await this.sendTable(ref);
    this.log.info({ node: spec.id, host }, 'node added');
    return ref;
  }

  /** Marks a node draining (it takes no shards) and moves all of its shards off. */
  drain(id: string, concurrency: number): Promise<OperationProgress> {
    const spec = this.table.node(id);
    if (!spec) throw new HeraldError('HERALD_NOT_FOUND', `no node ${id}`);
    if (this.table.data.nodes.filter((n) => !n.draining).length <= 1 && !spec.draining)
      throw new HeraldError('HERALD_INVALID_MESSAGE', 'cannot drain the last node');
    spec.draining = true;
    this.save();
    return this.rebalance(concurrency, `drain ${id}`);
  }

  /**
   * Removes a node that holds nothing (drain it first) and stops its actor. Refused while it owns a shard, takes
   * part in a move, or still holds keys of a shard it lost (an old copy not yet deleted: timelines, queued sends,
   * dead letters…), or cannot say: removing it would lose them.
   */
  async removeNode(id: string): Promise<void> {
    if (!this.table.node(id)) throw new HeraldError('HERALD_NOT_FOUND', `no node ${id}`);
    const owned = this.table.shardsOf(id);
    if (owned.length) throw new HeraldError('HERALD_NODE_NOT_EMPTY', `node ${id} still owns shards ${owned.join(', ')}: drain it first`);
    const moving = this.table.moves.filter((m: Move) => m.from === id || m.to === id).map((m: Move) => m.shard);
    if (moving.length) throw new HeraldError('HERALD_NODE_NOT_EMPTY', `node ${id} is in the moves of shards ${moving.join(', ')}: wait for them to end`);
    const ref = this.node(id);
    const stray = await ref.call('strayShards', null);
    if (stray.length)
      throw new HeraldError(
        'HERALD_NODE_NOT_EMPTY',
        `node ${id} still holds keys of shards ${stray.join(', ')} (queued sends, dead letters, timelines…): rebalance, then retry`,
      );
    this.table.data.nodes = this.table.data.nodes.filter((n) => n.id !== id);
    this.save();
    this.nodes.delete(id);
    this.channels.delete(id);
    await this.runtime.destroy(id, ref.pid);
    this.log.info({ node: id }, 'node removed');
  }
}
