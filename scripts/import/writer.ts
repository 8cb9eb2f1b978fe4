import { Encoder } from '@msgpack/msgpack';
import { ClassicLevel } from 'classic-level';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { UserId } from '../../core/Event';
import { indexKeys, PRESENT as INDEX_ENTRY, termsOf } from '../../actors/fanout/CandidateIndex';
import { InterestProfile, WEIGHTS } from '../../actors/user/InterestProfile';
import type { ProfileOptions } from '../../core/config';
import type { ShardTable } from '../../cluster/ShardTable';
import { followerKey, userKey } from '../../storage/Keyspace';
import type { Edge } from './Edge';

/**
 * The importer's LevelDB side: one node's keys and values, in exactly the formats UserActor writes for a `follow`
 * (and for the engagements that built the follower's affinity), keys from storage/Keyspace.ts:
 *
 *   on the followee C's owner   <shard(C)>!F!C!<shard(F)>!F   pack(ts)           (C's followers, by shard)
 *   on the follower F's owner   <shard(F)>!f!F!C   pack(ts)                      (F's followings)
 *                               <shard(F)>!a!F!C   pack([affinity, ts])          (F's affinity to C)
 *                               <shard(F)>!P!F     pack(InterestProfile data)    (F's Top-N and recent entities)
 *                               <shard(F)>!R!..., <shard(F)>!N!...               (the profile's candidate index)
 *
 * written through chained batches, one in flight while the next one is filled.
 */

/**
 * core/Codec's `pack`, byte for byte (same library, same options), with one reused encoder: `pack` builds a
 * new Encoder (and its 2 KB buffer) per value, which at millions of values was a fifth of the import's CPU.
 */
const encoder = new Encoder({ ignoreUndefined: true });
export const packValue = (value: unknown): Uint8Array => encoder.encode(value);

/**
 * `pack([affinity, now])` for a fixed `now`: a fractional affinity is msgpack float64 (0xcb), so the bytes are
 * [0x92, 0xcb, 8 bytes big-endian, pack(now)]; an integer one (encoded smaller) goes through the encoder. The
 * bytes are written into one scratch buffer, valid until the next call: a batch copies a value when it is put.
 */
export function affinityPacker(now: number): (affinity: number) => Uint8Array {
  const tail = packValue(now);
  const scratch = new Uint8Array(10 + tail.length);
  const view = new DataView(scratch.buffer);
  scratch[0] = 0x92;
  scratch[1] = 0xcb;
  scratch.set(tail, 10);
  return (affinity) => {
    if (Number.isInteger(affinity) || !Number.isFinite(affinity)) return packValue([affinity, now]);
    view.setFloat64(2, affinity);
    return scratch;
  };
}

/** A node's DB with NodeStore's encodings, not opened yet (`multithreading` when another thread holds it open). */
export function openDb(path: string): ClassicLevel<string, Uint8Array> {
  return new ClassicLevel<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
}

/** Opens (and so locks) every node's DB in this thread; a held LOCK means the cluster is running: refuse clearly. */
export async function lockNodes(dataDir: string, table: ShardTable): Promise<Array<ClassicLevel<string, Uint8Array>>> {
  const dbs: Array<ClassicLevel<string, Uint8Array>> = [];
  try {
    for (const spec of table.data.nodes) {
      if (spec.host) throw new Error(`node ${spec.id} is remote (${spec.host}): import into its data dir on that host`);
      const path = join(dataDir, spec.id);
      mkdirSync(path, { recursive: true });
      const db = openDb(path);
      try {
        await db.open({ multithreading: true });
      } catch (err) {
        const e = err as { code?: string; cause?: { code?: string; message?: string } };
        if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED' || /lock/i.test(e.cause?.message ?? '')) {
          throw new Error(
            `${path} is locked by another process: is the cluster running on ${dataDir}? The importer writes the nodes' ` +
              `LevelDBs directly, so the cluster must be STOPPED (each node holds its LevelDB's LOCK while it runs). Stop it, then import again.`,
            { cause: err },
          );
        }
        throw err;
      }
      dbs.push(db);
    }
  } catch (err) {
    await Promise.all(dbs.map((db) => db.close().catch(() => undefined)));
    throw err;
  }
  return dbs;
}

/**
 * One DB's writes as chained batches of `batchOps`: a batch is filled while the previous one is written. Shared by
 * every bulk load of a stopped cluster's DBs (this importer, bench/rebalanceSeed.ts).
 */
export class BatchWriter {
  private batch;
  private ops = 0;
  private inflight?: Promise<void>;
  keys = 0;

  constructor(
    /** None in a dry run: keys are counted, not written. */
    readonly db: ClassicLevel<string, Uint8Array> | undefined,
    private readonly batchOps: number,
  ) {
    this.batch = db?.batch();
  }

  put(key: string, value: Uint8Array): void {
    this.batch?.put(key, value);
    this.ops++;
    this.keys++;
  }

  /** The batch being filled holds `batchOps`: time to `flush`. */
  get full(): boolean {
    return this.ops >= this.batchOps;
  }

  /** Sends the batch being filled; waits first for the one in flight. */
  async flush(sync = false): Promise<void> {
    if (this.inflight) await this.inflight;
    this.inflight = undefined;
    if (this.ops === 0 || !this.db || !this.batch) return;
    const batch = this.batch;
    this.batch = this.db.batch();
    this.ops = 0;
    this.inflight = batch.write({ sync });
  }

  /** Everything written, the last batch fsynced (LevelDB's log is sequential: so is everything before it). */
  async finish(): Promise<void> {
    await this.flush(true);
    if (this.inflight) await this.inflight;
    this.inflight = undefined;
  }
}

/**
 * A node's graph keys, put in key order by its caller (a shard at a time: its follower edges, then its followers'
 * own keys, then `endShard` writes the shard's candidate index). `pace` after every call keeps one batch in flight.
 */
export class GraphWriter {
  followers = 0;
  edges = 0;
  indexKeys = 0;
  /** The current shard's candidate index keys, written after its users in key order. */
  private indexed: string[] = [];
  private reported = 0;
  private readonly ts: Uint8Array;
  private readonly affinityValue: (affinity: number) => Uint8Array;

  constructor(
    readonly out: BatchWriter,
    private readonly now: number,
    private readonly profile: ProfileOptions,
    /** Every few 50,000 keys: how far this node is. */
    private readonly onProgress: () => void = () => undefined,
  ) {
    this.ts = packValue(now);
    this.affinityValue = affinityPacker(now);
  }

  /** `follower` (of shard `followerShard`) follows `followee`: the edge stored under the followee. */
  followedBy(shard: number, followee: UserId, followerShard: number, follower: UserId): void {
    this.out.put(followerKey(shard, followee, followerShard, follower), this.ts);
  }

  /**
   * A follower's own keys (profile, affinities, followings), its followings sorted into key order; answers the
   * profile, built as UserActor builds it.
   */
  following(shard: number, f: UserId, list: Edge[]): InterestProfile {
    list.sort((a, b) => (a.followee < b.followee ? -1 : a.followee > b.followee ? 1 : 0));
    const profile = new InterestProfile({ top: [], ent: [] }, this.profile);
    // As UserActor does it: a follow ranks the followee with the affinity earned so far, the follow included...
    for (const e of list) profile.follow(e.followee, e.affinity, this.now);
    // ...and the engagements count their tweets' entities (one call: re-ranking a followee with the affinity it
    // already has would change nothing, so the followee is left out).
    const entities = list.flatMap((e) => e.entities);
    if (entities.length) profile.engage(undefined, false, 0, entities, WEIGHTS.like, this.now);
    // Kinds in key order: P < a < f. Values in shared buffers: a batch copies a value when it is put.
    const data = profile.toData();
    this.out.put(userKey(shard, 'P', f), encoder.encodeSharedRef(data));
    for (const k of indexKeys(shard, f, termsOf(data))) this.indexed.push(k);
    for (const e of list) this.out.put(userKey(shard, 'a', f, e.followee), this.affinityValue(e.affinity));
    for (const e of list) this.out.put(userKey(shard, 'f', f, e.followee), this.ts);
    this.followers++;
    this.edges += list.length;
    return profile;
  }

  /** The shard's candidate index keys, sorted (written after the shard's users, which do not need them). */
  async endShard(): Promise<void> {
    for (const k of this.indexed.sort()) {
      this.out.put(k, INDEX_ENTRY);
      await this.pace();
    }
    this.indexKeys += this.indexed.length;
    this.indexed = [];
  }

  /** Sends the batch when full (waiting for the one in flight), and reports progress every 50,000 keys. */
  async pace(): Promise<void> {
    if (this.out.full) await this.out.flush();
    if (this.out.keys - this.reported >= 50_000) {
      this.onProgress();
      this.reported = this.out.keys;
    }
  }
}
