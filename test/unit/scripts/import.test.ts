import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decide } from '../../../actors/fanout/FanoutPolicy';
import { InterestProfile, type ProfileData } from '../../../actors/user/InterestProfile';
import { UserActor } from '../../../actors/user/UserActor';
import { ShardTable } from '../../../cluster/ShardTable';
import { ringAllocation } from '../../../cluster/RingAllocation';
import { Generator, lexicographicOrder } from '../../../scripts/import/Generator';
import { importGraph, type ImportOptions } from '../../../scripts/import/importGraph';
import { parseImportArgs } from '../../../scripts/import/options';
import { affinityPacker, packValue } from '../../../scripts/import/writer';
import { pack, unpack } from '../../../core/Codec';
import { shardOf } from '../../../storage/Keyspace';
import { NodeStore } from '../../../storage/NodeStore';
import { DEFAULT_POLICY, DEFAULT_PROFILE } from '../../../core/config';
import { ev, nodeOptions, STORE_OPTIONS, tweet } from '../actors/helpers';
import { genGraph } from '../../../scripts/genGraph';

const SHARDS = 16;
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'herald-import-'));
  dirs.push(d);
  return d;
};
const opts = (dataDir: string, more: Partial<ImportOptions> = {}): ImportOptions => ({
  ...parseImportArgs(['--data', dataDir, '--file', 'unused', '--shards', String(SHARDS), '--nodes', '1', '--no-progress'])!,
  file: undefined,
  log: () => undefined,
  ...more,
});

/** Every key of the kinds an import writes (F f a P, and the candidate index N R), with its value decoded. */
async function graphKeys(store: NodeStore): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const [key, value] of store.db.iterator()) if (/^[0-9a-f]{4}![FfaPNR]!/.test(key)) out.set(key, unpack(value));
  return out;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('import', () => {
  it('writes the keys and values UserActor writes for the same follows and likes', async () => {
    // What the cluster writes: alice follows bob and carol, then likes a tweet of bob's about moonlight.
    const live = await NodeStore.open(temp(), STORE_OPTIONS);
    const actor = (id: string) => new UserActor(id, shardOf(id, SHARDS), live, { ...nodeOptions(), shardCount: SHARDS });
    const alice = actor('alice');
    for (const target of ['bob', 'carol']) {
      const follow = ev('follow', 'alice', { target });
      await alice.apply(follow)!.written;
      await actor(target).apply(follow)!.written;
    }
    await alice.apply(ev('like', 'alice', { target: 'bob', tweet: tweet('bob', { entities: ['Moonlight'] }) }))!.written;
    const expected = await graphKeys(live);
    await live.close();

    // The same graph imported: bob's affinity 2 (follow + like), the like's entity.
    const dir = temp();
    const file = join(dir, 'graph.jsonl');
    writeFileSync(
      file,
      ['{"follower":"alice","followee":"bob","affinity":2,"entities":["Moonlight"]}', '{"follower":"alice","followee":"carol"}', ''].join('\n'),
    );
    const result = await importGraph(opts(dir, { file, expectAuthor: 'bob', expectEntities: ['moonlight'] }));
    // The index: bob and carol in alice's top 5, moonlight among her entities.
    expect(result).toMatchObject({
      followers: 1,
      edges: 2,
      keys: 2 * 3 + 1 + 3,
      index_keys: 3,
      expected: { followers: 1, chosen: 1, reasons: { 'top-following+entity': 1 } },
    });
    const table = ShardTable.load(join(dir, 'cluster.json'))!;
    expect(table.shardCount).toBe(SHARDS);
    const store = await NodeStore.open(join(dir, 'node-1'), STORE_OPTIONS);
    const imported = await graphKeys(store);
    await store.close();

    expect([...imported.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, value] of expected) {
      const got = imported.get(key);
      const kind = key.split('!')[1];
      if (kind === 'F' || kind === 'f') expect(typeof got).toBe('number');
      if (kind === 'a') {
        expect((got as number[])[0]).toBeCloseTo((value as number[])[0], 3);
        expect(typeof (got as number[])[1]).toBe('number');
      }
      if (kind === 'P') {
        const [a, b] = [got as ProfileData, value as ProfileData];
        expect(a.top.map((s) => s[0])).toEqual(b.top.map((s) => s[0]));
        a.top.forEach((s, i) => expect(s[1]).toBeCloseTo(b.top[i][1], 3));
        expect(a.ent.map((s) => [s[0], s[1]])).toEqual(b.ent.map((s) => [s[0], s[1]]));
        // And the node decides the same on either.
        const now = Date.now();
        expect(decide(new InterestProfile(a, DEFAULT_PROFILE), 'bob', ['moonlight'], now, DEFAULT_POLICY)).toEqual(
          decide(new InterestProfile(b, DEFAULT_PROFILE), 'bob', ['moonlight'], now, DEFAULT_POLICY),
        );
      }
    }
  });

  it('generates the same bimodal graph whatever the order, and reports whom the policy picks', async () => {
    const g = parseImportArgs(['--generate', '--celebrity-followers', '3000', '--users', '4000'])!.generate!;
    const a = new Generator(g);
    const b = new Generator(g);
    expect([2999, 0, 1234].map((i) => b.edgesOf(i))).toEqual([2999, 0, 1234].map((i) => a.edgesOf(i)));
    expect(a.edgesOf(5).some((e) => e.followee === 'celeb')).toBe(true);
    expect(a.edgesOf(3500).some((e) => e.followee === 'celeb')).toBe(false);

    const dir = temp();
    const result = await importGraph(opts(dir, { generate: g, nodes: 3 }));
    expect(result.followers).toBe(4000);
    expect(result.keys).toBe(result.followers + 3 * result.edges + result.index_keys);
    // Every user's top followings (at most 5, all of them here: 5 to 7 each) and entities (a few each) are indexed.
    expect(result.index_keys).toBeGreaterThan(result.edges);
    expect(result.expected!.followers).toBe(3000);
    // The generator's defaults: a realistic minority chosen.
    expect(result.expected!.fraction).toBeGreaterThan(0.08);
    expect(result.expected!.fraction).toBeLessThan(0.35);
    expect(Object.keys(result.keys_per_node)).toEqual(['node-1', 'node-2', 'node-3']);
    // Every node holds the followers it owns, and the celebrity's followers are on its owner.
    const table = ShardTable.load(join(dir, 'cluster.json'))!;
    const celebOwner = table.ownerOf(shardOf('celeb', table.shardCount));
    const store = await NodeStore.open(join(dir, celebOwner), STORE_OPTIONS);
    const prefix = `${shardOf('celeb', table.shardCount).toString(16).padStart(4, '0')}!F!celeb!`;
    const followers = await store.db.keys({ gt: prefix, lt: prefix + '\uffff' }).all();
    await store.close();
    expect(followers).toHaveLength(3000);
  });

  it('gen-graph writes the generated graph as CSV, and --edges imports it edge for edge', async () => {
    const dir = temp();
    const csv = join(dir, 'graph.csv');
    const written = await genGraph(['--users', '600', '--celebrity-followers', '300'], csv);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('follower,followee,weight');
    expect(lines.length - 1).toBe(written.edges);
    expect(lines.filter((l) => l.split(',')[1] === 'celeb')).toHaveLength(300);
    const parsed = parseImportArgs(['--data', dir, '--edges', csv, '--shards', String(SHARDS), '--nodes', '1', '--no-progress'])!;
    expect(parsed).toMatchObject({ file: csv, csv: true });
    const result = await importGraph({ ...parsed, log: () => undefined });
    expect(result).toMatchObject({ followers: 600, edges: written.edges, keys: 600 + 3 * written.edges + result.index_keys });
  });

  it('--edges refuses a malformed CSV line, naming it', async () => {
    const dir = temp();
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'alice,bob,2\nalice,carol,heavy\n');
    await expect(importGraph(opts(dir, { file: csv, csv: true }))).rejects.toThrow(`${csv}:2: "affinity" must be a number >= 0`);
  });

  it('refuses a data dir whose cluster is running (the LevelDB LOCK), saying so', async () => {
    const dir = temp();
    ShardTable.create(SHARDS, [{ id: 'node-1' }], ringAllocation).save(join(dir, 'cluster.json'));
    // A node of a running cluster, in another process.
    const holder: ChildProcess = spawn(
      process.execPath,
      [
        '-e',
        `new (require('classic-level').ClassicLevel)(${JSON.stringify(join(dir, 'node-1'))}).open().then(() => { console.log('open'); setInterval(() => undefined, 1000); })`,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      const file = join(dir, 'g.jsonl');
      writeFileSync(file, '{"follower":"a","followee":"b"}\n');
      await expect(importGraph(opts(dir, { file }))).rejects.toThrow(/locked by another process: is the cluster running.*STOPPED/);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('rejects bad lines with their line number', async () => {
    const dir = temp();
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, '{"follower":"a","followee":"b"}\n{"follower":"a"}\n');
    await expect(importGraph(opts(dir, { file }))).rejects.toThrow(/bad\.jsonl:2: "follower" and "followee"/);
  });

  it('fast paths match the code they stand in for', () => {
    for (const n of [1, 2, 10, 11, 101, 1000, 4321]) {
      expect([...lexicographicOrder(n)]).toEqual(Array.from({ length: n }, (_, i) => i).sort((x, y) => (String(x) < String(y) ? -1 : 1)));
    }
    const now = 1_763_000_000_123;
    const affinity = affinityPacker(now);
    for (const v of [1, 2.5, 3.000001, 1e-9, 17]) expect(Buffer.from(affinity(v))).toEqual(Buffer.from(pack([v, now])));
    expect(Buffer.from(packValue({ top: [['x', 1.5, now]], ent: [] }))).toEqual(Buffer.from(pack({ top: [['x', 1.5, now]], ent: [] })));
  });
});
