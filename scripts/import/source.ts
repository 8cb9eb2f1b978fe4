import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { UserId } from '../../core/Event';
import { WEIGHTS } from '../../actors/user/InterestProfile';
import type { ShardTable } from '../../cluster/ShardTable';
import { shardOf } from '../../storage/Keyspace';
import type { Edge } from './Edge';

/**
 * A graph file as the importer's source: JSON lines `{"follower","followee","affinity"?,"entities"?}` (--file) or
 * CSV `follower,followee[,weight]` (--edges), read once by the main thread, every line validated (an error names
 * the file and line), and split into each node's share for its worker.
 */

/** Every line of a JSON-lines graph, validated. */
export async function* readJsonLines(file: string): AsyncGenerator<{ follower: UserId; edge: Edge }> {
  const input = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of input) {
    n++;
    if (!line.trim()) continue;
    let row: { follower?: unknown; followee?: unknown; affinity?: unknown; entities?: unknown };
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${n}: not JSON`);
    }
    yield edgeRow(file, n, row);
  }
}

/** Every line of a CSV edge list `follower,followee[,weight]` (a first line `follower,followee...` is a header). */
export async function* readCsv(file: string): AsyncGenerator<{ follower: UserId; edge: Edge }> {
  const input = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of input) {
    n++;
    if (!line.trim() || (n === 1 && line.startsWith('follower,'))) continue;
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 2 || cells.length > 3) throw new Error(`${file}:${n}: expected follower,followee[,weight]`);
    const weight = cells[2] === undefined || cells[2] === '' ? undefined : Number(cells[2]);
    yield edgeRow(file, n, { follower: cells[0], followee: cells[1], affinity: weight });
  }
}

/** One edge of either format, validated. */
function edgeRow(
  file: string,
  n: number,
  row: { follower?: unknown; followee?: unknown; affinity?: unknown; entities?: unknown },
): { follower: UserId; edge: Edge } {
  const { follower, followee, affinity, entities } = row;
  if (typeof follower !== 'string' || !follower || typeof followee !== 'string' || !followee)
    throw new Error(`${file}:${n}: "follower" and "followee" must be non-empty strings`);
  if (follower === followee) throw new Error(`${file}:${n}: ${follower} follows itself`);
  if (/[!\uffff]/.test(follower + followee)) throw new Error(`${file}:${n}: user ids may not contain "!"`);
  if (affinity !== undefined && (typeof affinity !== 'number' || !Number.isFinite(affinity) || affinity < 0))
    throw new Error(`${file}:${n}: "affinity" must be a number >= 0`);
  if (entities !== undefined && (!Array.isArray(entities) || entities.some((e) => typeof e !== 'string')))
    throw new Error(`${file}:${n}: "entities" must be an array of strings`);
  return {
    follower,
    edge: {
      followee,
      affinity: Math.max(WEIGHTS.follow, (affinity as number | undefined) ?? WEIGHTS.follow),
      entities: (entities as string[] | undefined) ?? [],
    },
  };
}

/** One node's part of a JSON-lines graph: the edges of the followers it owns, and those of the followees it owns. */
export interface FileShare {
  follower: UserId[];
  followerShard: Int32Array;
  followee: UserId[];
  affinity: Float64Array;
  entities: Array<string[] | undefined>;
  followed: UserId[];
  /** The follower of `followed[k]`, and its shard (storage/Keyspace followerKey: `<shard(C)>!F!C!<shard(F)>!F`). */
  followedBy: UserId[];
  followedByShard: Int32Array;
  followedShard: Int32Array;
}

/** Reads a graph file once, validated, and splits it by node (each user hashed once). */
export async function splitFile(file: string, csv: boolean, table: ShardTable): Promise<{ shares: Map<string, FileShare>; lines: number }> {
  const parts = new Map(
    table.data.nodes.map((n) => [
      n.id,
      {
        follower: [] as UserId[],
        followerShard: [] as number[],
        followee: [] as UserId[],
        affinity: [] as number[],
        entities: [] as Array<string[] | undefined>,
        followed: [] as UserId[],
        followedBy: [] as UserId[],
        followedByShard: [] as number[],
        followedShard: [] as number[],
      },
    ]),
  );
  const shards = new Map<UserId, number>();
  const shard = (u: UserId) => {
    let s = shards.get(u);
    if (s === undefined) shards.set(u, (s = shardOf(u, table.shardCount)));
    return s;
  };
  let lines = 0;
  for await (const { follower, edge } of csv ? readCsv(file) : readJsonLines(file)) {
    lines++;
    const sF = shard(follower);
    const mine = parts.get(table.ownerOf(sF))!;
    mine.follower.push(follower);
    mine.followerShard.push(sF);
    mine.followee.push(edge.followee);
    mine.affinity.push(edge.affinity);
    mine.entities.push(edge.entities.length ? edge.entities : undefined);
    const sC = shard(edge.followee);
    const theirs = parts.get(table.ownerOf(sC))!;
    theirs.followed.push(edge.followee);
    theirs.followedBy.push(follower);
    theirs.followedByShard.push(sF);
    theirs.followedShard.push(sC);
  }
  const shares = new Map<string, FileShare>();
  for (const [node, p] of parts) {
    shares.set(node, {
      ...p,
      followerShard: Int32Array.from(p.followerShard),
      affinity: Float64Array.from(p.affinity),
      followedByShard: Int32Array.from(p.followedByShard),
      followedShard: Int32Array.from(p.followedShard),
    });
  }
  return { shares, lines };
}
