import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ShardTable } from '../cluster/ShardTable';
import { BatchWriter, openDb, packValue } from '../scripts/import/writer';
import { SEP, kindRange, seqKey, shardPrefix, userKey } from '../storage/Keyspace';

/**
 * Timelines for a graph written by scripts/import.ts, straight into the nodes' LevelDBs of a STOPPED cluster (the
 * importer writes edges and profiles but no timeline entries): every user with followers gets its newest
 * `perUser` "X followed you" entries (offsets 1..k) and its timeline meta, in the formats UserActor writes
 * (storage/Timeline.ts: `<shard>!t!<user>!<offset>` = pack(Notification), `<shard>!u!<user>` = pack(meta)). The
 * followers come from the importer's `<shard>!F!<user>!<follower's shard>!<follower>` keys. One worker thread per node; inside a
 * shard, keys are written in key order (t < u), shard after shard, in chained batches.
 */

interface SeedJob {
  heraldSeed: true;
  path: string;
  shards: number[];
  perUser: number;
  now: number;
  epoch: string;
}

/** Writes the timelines of a stopped cluster's data dir (imported before), one worker thread per node; the counts. */
export async function seedTimelines(dataDir: string, perUser: number, now: number): Promise<{ keys: number; users: number; seconds: number }> {
  const table = ShardTable.load(join(dataDir, 'cluster.json'));
  if (!table) throw new Error(`no ${join(dataDir, 'cluster.json')}: import first`);
  const t0 = performance.now();
  const epoch = `import-${now.toString(36)}`;
  const results = await Promise.all(
    table.data.nodes.map(
      (spec) =>
        new Promise<{ keys: number; users: number }>((resolve, reject) => {
          const job: SeedJob = { heraldSeed: true, path: join(dataDir, spec.id), shards: table.shardsOf(spec.id), perUser, now, epoch };
          const worker = new Worker(__filename, { workerData: job });
          let result: { keys: number; users: number } | undefined;
          worker.once('message', (m: { keys: number; users: number; error?: string }) => (m.error ? reject(new Error(m.error)) : (result = m)));
          worker.once('error', reject);
          worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`seed worker of ${spec.id} exited with ${code}`))));
        }),
    ),
  );
  return { keys: results.reduce((a, r) => a + r.keys, 0), users: results.reduce((a, r) => a + r.users, 0), seconds: (performance.now() - t0) / 1000 };
}

/** One node's timelines, from its follower keys, shard after shard; the keys written and the users with a timeline. */
async function seedNode(job: SeedJob): Promise<{ keys: number; users: number }> {
  const db = openDb(job.path);
  await db.open();
  const out = new BatchWriter(db, 5000);
  let users = 0;
  const put = async (key: string, value: Uint8Array) => {
    out.put(key, value);
    if (out.full) await out.flush();
  };
  try {
    for (const shard of job.shards) {
      const range = kindRange(shard, 'F');
      const metas: Array<[string, Uint8Array]> = [];
      let user = '';
      let followers: string[] = [];
      const flushUser = async () => {
        if (!user || !followers.length) return;
        const newest = followers.slice(-job.perUser);
        for (let k = 0; k < newest.length; k++) {
          const actor = newest[k];
          const entry = {
            offset: k + 1,
            type: 'follow',
            actors: [actor],
            eventIds: [`import-${actor}`],
            ts: job.now - (newest.length - k) * 60_000,
            text: `${actor} followed you`,
          };
          await put(userKey(shard, 't', user, seqKey(k + 1)), packValue(entry));
        }
        metas.push([userKey(shard, 'u', user), packValue({ last: newest.length, read: 0, first: 1, epoch: job.epoch })]);
        users++;
      };
      const it = db.keys(range);
      try {
        for (;;) {
          const chunk = await it.nextv(5000);
          if (!chunk.length) break;
          for (const key of chunk) {
            const rest = key.slice(range.gt.length);
            const sep = rest.indexOf(SEP);
            const followee = rest.slice(0, sep);
            if (followee !== user) {
              await flushUser();
              user = followee;
              followers = [];
            }
            // After the followee: <follower's shard>!<follower> (storage/Keyspace followerKey).
            followers.push(rest.slice(sep + 1 + shardPrefix(0).length));
          }
        }
        await flushUser();
      } finally {
        await it.close();
      }
      for (const [k, v] of metas) await put(k, v);
    }
    await out.finish();
  } finally {
    await db.close();
  }
  return { keys: out.keys, users };
}

if (!isMainThread && (workerData as SeedJob | undefined)?.heraldSeed) {
  seedNode(workerData as SeedJob).then(
    (r) => parentPort!.postMessage(r),
    (err) => parentPort!.postMessage({ keys: 0, users: 0, error: String(err?.stack ?? err) }),
  );
}
