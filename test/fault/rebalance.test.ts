import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, killQuietly } from '../../scripts/ClusterProcess';
import { shardOf } from '../../storage/Keyspace';
import { ClusterProcess, TestData } from '../support/cluster';
import { waitFor } from '../support/waitFor';
import { check, getJson, readTimeline, type Entry } from './Checker';
import { LoadDriver, sleep } from './LoadDriver';
import { Subscriber } from './Subscribers';

/**
 * Rebalancing under load, on a real cluster: add a 4th node and rebalance, move a hot shard by hand, kill the
 * old owner in the middle of a move, kill the coordinator (the gateway) in the middle of a move, drain a node
 * to empty and remove it. Then the reliability checker: nothing acked lost, duplicated or out of order, and
 * every shard owned by exactly one node that holds all its data (no node keeps keys of a shard it lost).
 */
const RECIPIENTS = Array.from({ length: 24 }, (_, i) => `m${String(i).padStart(2, '0')}`);
const ACTORS = Array.from({ length: 8 }, (_, i) => `b${i}`);

describe('rebalancing: live shard moves lose and duplicate nothing', () => {
  const data = new TestData();
  const configFile = join(data.dir, 'config.json');
  const pids = new Set<number>();
  const gateways: ClusterProcess[] = [];
  let cluster: ClusterProcess;
  let driver: LoadDriver | undefined;
  const subscribers: Subscriber[] = [];
  const admin = () => data.token('ops', 'admin');

  const api = (method: string, path: string, body?: object) => data.admin(cluster.info.http, method, path, body);
  const status = () => getJson<any>(`${cluster.info.http}/v1/admin/status`, admin());
  /** Waits for the running admin operation to end and returns it. */
  const finished = (timeoutMs = 60_000) =>
    waitFor(
      'the admin operation to end',
      async () => (await status()).operation,
      (op) => !!op && op.state !== 'running',
      { timeoutMs, everyMs: 100 },
    );
  const startCluster = async () => {
    cluster = await ClusterProcess.start(['--data', data.dir, '--port', '0', '--config', configFile], { env: { HERALD_LOG_LEVEL: 'warn' } });
    gateways.push(cluster);
    pids.add(cluster.pid);
    for (const pid of Object.values(cluster.info.nodes)) pids.add(pid);
  };
  const nodePid = async (id: string) => ((await status()).nodes.find((n: any) => n.id === id)?.pid as number) ?? 0;
  /** A recipient's shard that `node` owns, and the moving state of the table. */
  const shardOwnedBy = async (node: string) => {
    const s = await status();
    const table = JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8'));
    const shard = RECIPIENTS.map((u) => shardOf(u, s.shardCount)).find((sh) => table.owners[sh] === node);
    if (shard === undefined) throw new Error(`no recipient shard on ${node}`);
    return shard;
  };
  /** Looks often: the copying phase of one throttled shard lasts a few hundred ms. */
  const waitMoving = (shard: number) =>
    waitFor(`shard ${shard} copying`, status, (s) => s.moving.some((m: any) => m.shard === shard && m.phase === 'copying'), { timeoutMs: 10_000, everyMs: 10 });

  beforeAll(async () => {
    // Small, throttled move batches: a move lasts long enough to be interrupted on purpose.
    writeFileSync(configFile, JSON.stringify({ timelineMax: 100_000, moveBatchKeys: 20, moveThrottleMs: 40 }));
    await startCluster();
    for (const user of RECIPIENTS) {
      const s = new Subscriber(
        user,
        () => cluster.info.ws,
        () => data.token(user),
      );
      subscribers.push(s);
      s.connect();
    }
    driver = new LoadDriver({
      url: () => cluster.info.ws,
      token: () => data.token('load', 'producer'),
      recipients: RECIPIENTS,
      actors: ACTORS,
      ratePerSec: 200,
      sockets: 2,
      runId: `rb${Date.now().toString(36)}`,
    });
    driver.start();
    await sleep(1500); // a deliberate stretch of load first, so the shards have data to move
  });

  afterAll(async () => {
    driver?.close();
    for (const s of subscribers) s.close();
    for (const g of gateways) await g.stop('SIGTERM', 5_000).catch(() => undefined);
    for (const pid of pids) killQuietly(pid);
    data.remove();
  });

  it('adds a 4th node under load and rebalances onto it', async () => {
    const added = await api('POST', '/v1/admin/nodes', { concurrency: 4 });
    expect(added.status).toBe(200);
    expect(added.body.node).toBe('node-4');
    pids.add(added.body.pid);
    const op = await finished();
    expect(op).toMatchObject({ operation: 'rebalance', state: 'done', shardsFailed: 0 });
    expect(op.shardsDone).toBeGreaterThan(40);
    // Every part went straight from the old owner to the new one over their link.
    expect(op.shardsDirect).toBe(op.shardsDone);
    const s = await status();
    expect(s.nodes.find((n: any) => n.id === 'node-4').shards).toBe(op.shardsDone);
  });

  it('moves a hot shard by hand', async () => {
    const shard = await shardOwnedBy('node-1');
    const res = await api('POST', `/v1/admin/shards/${shard}/move`, { node: 'node-2' });
    expect(res.status).toBe(202);
    expect(await finished()).toMatchObject({ state: 'done', shardsDone: 1 });
    expect((await api('GET', '/v1/admin/plan')).body.moves).toEqual([]);
    const table = JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8'));
    expect(table.owners[shard]).toBe('node-2');
  });

  /**
   * Moves a shard of `from` to `to`, SIGKILLs `victim`'s process once the move is under way, waits for the
   * respawn, and retries the move until the table names `to` with nothing left moving.
   */
  const moveWhileKilling = async (from: string, to: string, victim: string) => {
    const shard = await shardOwnedBy(from);
    const pid = await nodePid(victim);
    await api('POST', `/v1/admin/shards/${shard}/move`, { node: to });
    await waitMoving(shard);
    process.kill(pid, 'SIGKILL');
    const op = await finished();
    // Killed before the flip: rolled back and retried below; after it: finished by the coordinator.
    expect(['done', 'failed']).toContain(op.state);
    pids.add(
      await waitFor(
        `${victim} (was pid ${pid}) respawned`,
        () => nodePid(victim),
        (p) => p > 0 && p !== pid,
        { timeoutMs: 20_000, everyMs: 100 },
      ),
    );
    // A partial copy on the new owner is dropped before the next move to it copies the shard again.
    const table = () => JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8'));
    // Retried until accepted and done (a move is refused while the respawned node rejoins).
    const movedTo = async () => {
      if (table().owners[shard] === to) return true;
      const res = await api('POST', `/v1/admin/shards/${shard}/move`, { node: to });
      if (res.status === 202) await finished();
      return table().owners[shard] === to;
    };
    await waitFor(`shard ${shard} moved to ${to}`, movedTo, { timeoutMs: 30_000, everyMs: 200 });
    expect(table().moving).toEqual({});
  };

  it('survives the old owner being killed in the middle of a move', () => moveWhileKilling('node-3', 'node-1', 'node-3'));

  it('survives the new owner being killed in the middle of a move', () => moveWhileKilling('node-2', 'node-3', 'node-3'));

  it('survives the coordinator being killed in the middle of a move, then drains a node to empty and removes it', async () => {
    const drain = await api('POST', '/v1/admin/nodes/node-4/drain', { concurrency: 2 });
    expect(drain.status).toBe(202);
    await waitFor('a shard of the drain moving', status, (s) => s.moving.length > 0, { timeoutMs: 5_000, everyMs: 10 });
    const old = cluster;
    const oldNodes = Object.values(old.info.nodes);
    process.kill(old.pid, 'SIGKILL');
    await new Promise((r) => old.child.once('exit', r));
    // Its nodes see the gateway gone, close their databases and exit; the restart then reopens them.
    await waitFor(
      "the old gateway's nodes exited (pids alive)",
      () => oldNodes.filter(isAlive),
      (alive) => alive.length === 0,
      { timeoutMs: 20_000, everyMs: 50 },
    );
    await startCluster();
    const after = await status();
    expect(after.moving).toEqual([]);
    // The drain flag survived; finish the drain, then remove the node.
    const again = await api('POST', '/v1/admin/rebalance', { concurrency: 4 });
    expect(again.status).toBe(202);
    expect(await finished()).toMatchObject({ state: 'done', shardsFailed: 0 });
    const s = await status();
    expect(s.nodes.find((n: any) => n.id === 'node-4')).toMatchObject({ shards: 0, draining: true });
    const removed = await api('DELETE', '/v1/admin/nodes/node-4');
    expect(removed.status).toBe(200);
    expect((await status()).nodes.map((n: any) => n.id)).toEqual(['node-1', 'node-2', 'node-3']);
  });

  it('then: nothing lost, duplicated or out of order; every shard has exactly one owner with all its data', async () => {
    await sleep(1000); // a deliberate second of load after the last move
    driver!.stopLoad();
    await driver!.drain(60_000);
    const timelines = new Map<string, Entry[]>();
    for (const user of RECIPIENTS) timelines.set(user, await readTimeline(cluster.info.http, admin(), user));
    const newest = (u: string) => timelines.get(u)?.[0]?.offset ?? 0;
    const behind = () => subscribers.filter((s) => s.log.last < newest(s.user)).map((s) => ({ ...s.describe(), newest: newest(s.user) }));
    await waitFor('subscribers caught up with their timelines (those behind)', behind, (b) => b.length === 0, { timeoutMs: 30_000, everyMs: 100 });
    const result = check({ acked: driver!.acked, generated: driver!.generated, timelines, subscribers: subscribers.map((s) => s.log) });
    const s = await status();
    const owned = s.nodes.reduce((n: number, x: any) => n + x.shards, 0);
    const stray = s.nodes.flatMap((x: any) => x.stray ?? ['?']);
    console.log(
      JSON.stringify({
        rebalance: true,
        acked: result.acked,
        lost: result.lost,
        duplicated: result.duplicated,
        gaps: result.gaps,
        nonMonotonic: result.nonMonotonic,
        subscriberGaps: result.subscriberGaps,
        subscriberDuplicates: result.subscriberDuplicates,
        recoveredFalse: result.recoveredFalse,
        shardsOwned: owned,
        stray: stray.length,
        epoch: s.epoch,
      }),
    );
    expect(result.acked).toBeGreaterThan(1000);
    expect({ lost: result.lost, duplicated: result.duplicated, gaps: result.gaps, nonMonotonic: result.nonMonotonic }).toEqual({
      lost: 0,
      duplicated: 0,
      gaps: 0,
      nonMonotonic: 0,
    });
    expect({ subscriberGaps: result.subscriberGaps, subscriberDuplicates: result.subscriberDuplicates }).toEqual({
      subscriberGaps: 0,
      subscriberDuplicates: 0,
    });
    expect(owned).toBe(256);
    expect(stray).toEqual([]);
  });
});
