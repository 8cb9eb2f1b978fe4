import { ClassicLevel } from 'classic-level';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pack, unpack } from '../core/Codec';
import { GroupCommit } from './GroupCommit';
import { HeraldError } from '../core/HeraldError';
import { META_PREFIX } from './Keyspace';

const INCARNATION_KEY = META_PREFIX + 'incarnation';

/**
 * Paths this process has open. LevelDB releases its OS lock when a second open of the same path fails in the
 * same process (see notes/level.md), after which another process could open it too and corrupt it: never try.
 */
const openPaths = new Set<string>();

export interface StoreOptions {
  /** fsync the ingest log and the effects before acking. @defaultValue true */
  syncWrites: boolean;
  /** LevelDB's write buffer (memtable), MB (the `writeBufferMb` option). */
  writeBufferMb: number;
}

/**
 * One LevelDB per node. Holds two group-commit writers: `durable` (fsynced: event effects, written before an
 * event is acked) and `applied` (not synced: what can be rebuilt or is re-sent, e.g. sender bookkeeping).
 */
export class NodeStore {
  readonly db: ClassicLevel<string, Uint8Array>;
  readonly durable: GroupCommit;
  readonly applied: GroupCommit;
  /** Random id of this database, made when it was created: a wiped or replaced store gets a new one. */
  readonly incarnation: string;
  private readonly path: string;

  private constructor(path: string, db: ClassicLevel<string, Uint8Array>, opts: StoreOptions) {
    this.path = path;
    this.db = db;
    this.durable = new GroupCommit(db, opts.syncWrites);
    this.applied = new GroupCommit(db, false);
    this.incarnation = this.getSync<string>(INCARNATION_KEY) ?? '';
  }

  /** Calls `handler` when either writer fails (both are fail-stop: the process must restart). */
  onFailure(handler: (err: Error) => void): void {
    this.durable.onFailure = handler;
    this.applied.onFailure = handler;
  }

  /** Opens, retrying while another process still holds the database (a node of a crashed gateway closing). */
  static async openWhenFree(dir: string, opts: StoreOptions, timeoutMs = 15_000): Promise<NodeStore> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await NodeStore.open(dir, opts);
      } catch (err) {
        const locked = /lock/i.test(String((err as Error).message) + String((err as { cause?: Error }).cause?.message ?? ''));
        if (!locked || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  static async open(dir: string, opts: StoreOptions): Promise<NodeStore> {
    const path = resolve(dir);
    if (openPaths.has(path)) throw new HeraldError('HERALD_INTERNAL', `store already open in this process: ${path}`);
    openPaths.add(path);
    mkdirSync(path, { recursive: true });
    // A block cache larger than LevelDB's 8 MB default: fanout reads one profile per follower.
    const db = new ClassicLevel<string, Uint8Array>(path, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      cacheSize: 64 * 1024 * 1024,
      writeBufferSize: opts.writeBufferMb * 1024 * 1024,
    });
    try {
      await db.open();
    } catch (err) {
      // This process never held the lock, so forgetting the path is safe: a later open may succeed once the
      // process that holds it (an old node still closing) is gone.
      openPaths.delete(path);
      throw err;
    }
    if (db.getSync(INCARNATION_KEY) === undefined) await db.put(INCARNATION_KEY, pack(randomBytes(6).toString('hex')), { sync: true });
    return new NodeStore(path, db, opts);
  }

  /** Synchronous point read: a cached LevelDB get costs microseconds, far less than an awaited one. */
  getSync<T>(key: string): T | undefined {
    const v = this.db.getSync(key);
    return v === undefined ? undefined : unpack<T>(v);
  }

  /**
   * The values of `keys`, given in ascending order: by one forward scan from the first to the last when they lie
   * dense in that range (a celebrity's followers' profiles, shard by shard: a scanned key costs a fraction of a
   * point read), by a batched point read once the scan has passed over more than `denseFactor` keys per key asked.
   */
  async getOrdered(keys: string[], denseFactor = 2): Promise<Array<Uint8Array | undefined>> {
    const out = new Array<Uint8Array | undefined>(keys.length);
    const it = this.db.iterator({ gte: keys[0], lte: keys[keys.length - 1] });
    let i = 0;
    let scanned = 0;
    try {
      while (i < keys.length) {
        if (scanned > keys.length * denseFactor) {
          // Sparse: every key left sorts after everything scanned.
          const rest = await this.db.getMany(keys.slice(i));
          for (let j = 0; j < rest.length; j++) out[i + j] = rest[j];
          break;
        }
        const chunk = await it.nextv(Math.min(1000, 2 * (keys.length - i)));
        if (!chunk.length) break;
        for (const [key, value] of chunk) {
          scanned++;
          while (i < keys.length && keys[i] < key) i++;
          if (i < keys.length && keys[i] === key) out[i++] = value;
        }
      }
    } finally {
      await it.close();
    }
    return out;
  }

  /** Reads up to `limit` values in key order (or reverse) within a range. */
  async scan<T>(range: { gt?: string; gte?: string; lt?: string; lte?: string; reverse?: boolean; limit?: number }): Promise<Array<[string, T]>> {
    const out: Array<[string, T]> = [];
    const it = this.db.iterator(range);
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) out.push([k, unpack<T>(v)]);
      }
    } finally {
      await it.close();
    }
    return out;
  }

  async close(): Promise<void> {
    await this.durable.drain();
    await this.applied.drain();
    await this.db.close();
    openPaths.delete(this.path);
  }
}
