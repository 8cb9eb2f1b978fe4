import { HeraldError } from '../../core/HeraldError';
import type { NodeStore } from '../../storage/NodeStore';
import { ShardJournal } from '../../storage/ShardJournal';
import { ShardRange, type ShardSnapshot } from '../../storage/ShardRange';
import { indexComplete, indexRowsOf } from '../fanout/CandidateIndex';
import type { Peers } from '../../core/nodeProtocol';
import type { DeltaPart, ExportedPart, PulledPart } from '../../core/ShardPart';
import type { ShardRegion } from './ShardRegion';

/** Deadline of one call to the old owner while pulling (a part waits behind the others being read). */
const PULL_TIMEOUT_MS = 60_000;

/**
 * A node's side of a live shard move (the Coordinator drives it). The old owner copies the shard from a snapshot
 * while it keeps serving it, journaling the keys it writes meanwhile (ShardJournal); then it freezes the shard and
 * sends only those keys' current values; it drops its copy once the table has flipped. The new owner writes the
 * parts unsynced and makes them durable once, with the last part, before the table flips to it.
 */
export class ShardHandoff {
  private readonly range: ShardRange;
  private readonly journal: ShardJournal;
  /** Snapshots being copied, by shard (old owner), and the read in progress (reads of one snapshot queue up). */
  private readonly snapshots = new Map<number, { snapshot: ShardSnapshot; reading: Promise<unknown> }>();
  /**
   * Shards this node does not own and holds no key of (dropped here, or found empty): `strays` skips them. A
   * dropped shard's tombstones make every read of it slow until compaction, and `admin status` asks often.
   */
  private readonly empty = new Set<number>();
  /**
   * Imports begun (a clock), when each shard's last one began, and those still writing: a check that overlapped
   * one does not trust what it read.
   */
  private imports = 0;
  private readonly importedAt = new Map<number, number>();
  private readonly importing = new Map<number, number>();

  constructor(
    private readonly store: NodeStore,
    private readonly region: ShardRegion,
    private readonly nodeId: string,
    private readonly shardCount: number,
    /** The other nodes: a new owner pulls parts from the old owner straight over its link to it. */
    private readonly peers?: Peers,
  ) {
    this.range = new ShardRange(store);
    this.journal = new ShardJournal(store);
  }

  /**
   * Old owner: starts journaling the shard's writes, then (once every write queued before is on disk, so each
   * write is either in the snapshot or journaled) opens the snapshot the copy reads. The shard keeps serving.
   */
  async begin(shard: number): Promise<void> {
    if (!this.region.owned.has(shard)) throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.nodeId} does not own shard ${shard}`);
    await this.end(shard);
    this.journal.start(shard);
    await Promise.all([this.store.durable.flushed(), this.store.applied.flushed()]);
    this.snapshots.set(shard, { snapshot: this.range.snapshot(shard), reading: Promise.resolve() });
  }

  /** Old owner: the next part of the snapshot. Concurrent calls are answered one after the other, in order. */
  export(shard: number, limit: number): Promise<ExportedPart> {
    const copy = this.snapshots.get(shard);
    if (!copy) return Promise.reject(new HeraldError('HERALD_INVALID_MESSAGE', `no handoff of shard ${shard} on node ${this.nodeId}`));
    const part = copy.reading.then(async () => ({ ...(await this.range.readPart(copy.snapshot, limit)), indexed: indexComplete(this.store) }));
    copy.reading = part.catch(() => undefined);
    return part;
  }

  /** New owner: whether it can reach `node` over a direct link (else the coordinator relays the parts). */
  async reach(node: string): Promise<boolean> {
    if (!this.peers) return false;
    return this.peers.call(node, 'ping', null, 5_000).then(
      () => true,
      () => false,
    );
  }

  /**
   * New owner: pulls the next part of `shard` from its old owner `from` and writes it (as `import`); `delta`: the
   * keys written since the snapshot, with the shard frozen there — the last part, which persists everything.
   */
  async pull(shard: number, from: string, limit: number, delta = false): Promise<PulledPart> {
    if (!this.peers) throw new HeraldError('HERALD_UNAVAILABLE', `node ${this.nodeId} has no links`);
    const part = delta
      ? { ...(await this.peers.call(from, 'exportDelta', { shard }, PULL_TIMEOUT_MS)), done: true }
      : await this.peers.call(from, 'exportShard', { shard, limit }, PULL_TIMEOUT_MS);
    await this.import(shard, part.frame, delta, part.indexed === true);
    return { keys: part.keys, bytes: part.bytes, done: part.done };
  }

  /**
   * Old owner, after the copy: refuse new work for `shard` (the router holds its events meanwhile) and resolve
   * once every mailbox of its users is empty and their writes are on disk, so the journal is complete.
   */
  async freeze(shard: number): Promise<void> {
    if (!this.region.owned.has(shard)) throw new HeraldError('HERALD_WRONG_OWNER', `node ${this.nodeId} does not own shard ${shard}`);
    this.region.frozen.add(shard);
    const busy = () => [...this.region.actors.values()].filter((a) => a.shard === shard && a.mailbox.size > 0);
    for (let waiting = busy(); waiting.length; waiting = busy()) await Promise.all(waiting.map((a) => a.mailbox.post(() => undefined)));
    await Promise.all([this.store.durable.flushed(), this.store.applied.flushed()]);
  }

  /** Old owner, frozen: the current value (or deletion) of every key written since the snapshot; ends the copy. */
  async delta(shard: number): Promise<DeltaPart> {
    if (!this.region.frozen.has(shard) || !this.journal.has(shard))
      throw new HeraldError('HERALD_INVALID_MESSAGE', `shard ${shard} is not frozen in a handoff on node ${this.nodeId}`);
    await Promise.all([this.store.durable.flushed(), this.store.applied.flushed()]);
    const part = await this.range.readKeys(this.journal.keys(shard));
    await this.end(shard);
    return { ...part, indexed: indexComplete(this.store) };
  }

  /** Rolls a failed handoff back: the shard takes work again and its copy ends. */
  async unfreeze(shard: number): Promise<void> {
    this.region.frozen.delete(shard);
    await this.end(shard);
  }

  /**
   * New owner: writes a part of a shard, not synced; `last` makes everything written so far durable (one
   * sync), since the table flips to this node right after. Unless the old owner's candidate index is complete
   * (`indexed`), the part's profiles get their index entries here, with them (this node's index counts as complete).
   */
  async import(shard: number, frame: Uint8Array, last = false, indexed = false): Promise<number> {
    if (this.region.owned.has(shard)) throw new HeraldError('HERALD_INVALID_MESSAGE', `node ${this.nodeId} already owns shard ${shard}`);
    this.importedAt.set(shard, ++this.imports);
    this.importing.set(shard, (this.importing.get(shard) ?? 0) + 1);
    this.empty.delete(shard);
    try {
      const n = await this.range.writePart(shard, frame, false, indexed ? undefined : (rows) => indexRowsOf(shard, rows));
      if (last) await this.range.persist();
      return n;
    } finally {
      const left = this.importing.get(shard)! - 1;
      if (left) this.importing.set(shard, left);
      else this.importing.delete(shard);
    }
  }

  /** Deletes every key of a shard this node does not own (after a move, or to roll one back), at most `keysPerS`. */
  async drop(shard: number, keysPerS = 0): Promise<void> {
    if (this.region.owned.has(shard)) throw new HeraldError('HERALD_INVALID_MESSAGE', `node ${this.nodeId} still owns shard ${shard}`);
    await this.end(shard);
    this.region.forget(shard);
    const quiet = this.quietFrom();
    await this.range.drop(shard, keysPerS);
    if (quiet(shard) && !this.region.owned.has(shard)) this.empty.add(shard);
  }

  /**
   * Shards this node does not own but holds keys of (should be none once moves are done). Only the shards not
   * known empty are read: a node writes an unowned shard's keys only by importing it, which forgets it as empty.
   */
  async strays(): Promise<number[]> {
    for (const s of this.empty) if (this.region.owned.has(s)) this.empty.delete(s);
    const unknown = Array.from({ length: this.shardCount }, (_, s) => s).filter((s) => !this.region.owned.has(s) && !this.empty.has(s));
    const quiet = this.quietFrom();
    const found = await this.range.nonEmpty(unknown);
    for (const s of unknown) if (!found.includes(s) && quiet(s) && !this.region.owned.has(s)) this.empty.add(s);
    return found;
  }

  /**
   * From now on: whether no import of a shard wrote at any time between this call and the answer's (none writing
   * now, none then, none begun in between), so a read of the shard in between saw every import's keys.
   */
  private quietFrom(): (shard: number) => boolean {
    const since = this.imports;
    const writing = new Set(this.importing.keys());
    return (shard) => !writing.has(shard) && !this.importing.has(shard) && (this.importedAt.get(shard) ?? 0) <= since;
  }

  /** Approximate bytes on disk per owned shard: what `admin status` shows. */
  async sizes(): Promise<Record<number, number>> {
    const out: Record<number, number> = {};
    for (const s of this.region.owned) out[s] = await this.range.size(s);
    return out;
  }

  /** Ends a copy of `shard`, if one runs: its journal and snapshot go. */
  private async end(shard: number): Promise<void> {
    this.journal.stop(shard);
    const copy = this.snapshots.get(shard);
    this.snapshots.delete(shard);
    if (!copy) return;
    await copy.reading;
    await copy.snapshot.close().catch(() => undefined);
  }
}
