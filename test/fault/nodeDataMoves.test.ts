import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQuietly } from '../../scripts/ClusterProcess';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';
import { getJson } from './Checker';
import { ProviderServer } from '../unit/actors/delivery/channels/ProviderServer';

/**
 * What a node holds of its users besides timelines — queued sends, dead letters — moves with their shards, as an
 * operator replaces every node: pushes queued while the provider fails are all sent once it is back, after the
 * nodes that queued them were drained and removed; `remove-node` refuses a node that still holds anything; and a
 * provider that never answers does not stall a drain.
 */
describe('node data moves with its shards: queued sends survive replacing every node', () => {
  const data = new TestData();
  const pids = new Set<number>();
  let cluster: ClusterProcess;
  let push: ProviderServer;
  let producer: TestClient;
  let n = 0;
  const admin = () => data.token('ops', 'admin');
  const api = (method: string, path: string, body?: object) => data.admin(cluster.info.http, method, path, body);
  const status = () => getJson<any>(`${cluster.info.http}/v1/admin/status`, admin());
  const finished = (what: string, timeoutMs = 60_000) =>
    waitFor(
      what,
      async () => (await status()).operation,
      (op) => !!op && op.state !== 'running',
      { timeoutMs, everyMs: 100 },
    );
  const follows = (target: string, count: number) => Array.from({ length: count }, (_, i) => ({ id: `f-${++n}`, type: 'follow', actor: `fan${i}`, target }));
  const settings = async (user: string, body: object) => {
    const res = await fetch(`${cluster.info.http}/v1/users/${user}/settings`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${data.token(user)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
  };
  /** The distinct delivery ids of the pushes to `token` the provider received from request `from` on. */
  const deliveredTo = (token: string, from = 0) =>
    new Set(push.requests.slice(from).flatMap((r) => (r.signed && JSON.parse(r.body).to === token ? [String(r.headers['x-herald-delivery'])] : [])));

  beforeAll(async () => {
    push = await ProviderServer.start('push-secret-0123456789');
    cluster = await data.startCluster([], {
      channels: { push: { url: push.url, secret: push.secret, timeoutMs: 1000 } },
      pushCap: { max: 100, windowMs: 24 * 3600_000, minGapMs: 0 },
      // Never buried while the provider is down: every send waits for it.
      sender: { concurrency: 2, maxAttempts: 100, baseBackoffMs: 200, maxBackoffMs: 2000 },
    });
    for (const pid of Object.values(cluster.info.nodes)) pids.add(pid);
    producer = await TestClient.connect(cluster.info.ws, data.token('svc', 'producer'));
  });

  afterAll(async () => {
    producer?.close();
    await cluster?.stop();
    for (const pid of pids) killQuietly(pid);
    await push?.stop();
    data.remove();
  });

  it('drains a node promptly while its sends hang on a provider that never answers', async () => {
    push.mode = 'hang';
    await settings('hank', { devices: { push: ['tok-hank'] } });
    expect(await producer.request({ op: 'publish', id: 'hang', events: follows('hank', 10) })).toMatchObject({ op: 'ack' });
    await waitFor('a send hanging on the provider', () => deliveredTo('tok-hank').size > 0);
    const owner = data.ownerOf('hank');
    const started = Date.now();
    expect((await api('POST', `/v1/admin/nodes/${owner}/drain`, { concurrency: 2 })).status).toBe(202);
    expect(await finished(`the drain of ${owner}`, 20_000)).toMatchObject({ state: 'done', shardsFailed: 0 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(data.ownerOf('hank')).not.toBe(owner);
  });

  it('sends all 20 pushes queued while the provider failed, after the three old nodes were drained and removed', async () => {
    push.mode = 'fail';
    await settings('dora', { devices: { push: ['tok-dora'] } });
    expect(await producer.request({ op: 'publish', id: 'dora', events: follows('dora', 20) })).toMatchObject({ op: 'ack' });
    await waitFor('the provider failing dora’s pushes', () => deliveredTo('tok-dora').size > 0);
    // A node that owns shards is not removed, and the answer says why.
    const refused = await api('DELETE', `/v1/admin/nodes/${data.ownerOf('dora')}`);
    expect(refused).toMatchObject({ status: 409, body: { code: 'HERALD_NODE_NOT_EMPTY' } });

    const added = await api('POST', '/v1/admin/nodes', { concurrency: 4 });
    expect(added.status).toBe(200);
    pids.add(added.body.pid);
    expect(await finished('the rebalance onto the new node')).toMatchObject({ state: 'done', shardsFailed: 0 });
    for (const old of ['node-1', 'node-2', 'node-3']) {
      expect((await api('POST', `/v1/admin/nodes/${old}/drain`, { concurrency: 4 })).status).toBe(202);
      expect(await finished(`the drain of ${old}`)).toMatchObject({ state: 'done', shardsFailed: 0 });
    }
    for (const old of ['node-1', 'node-2', 'node-3']) expect((await api('DELETE', `/v1/admin/nodes/${old}`)).status).toBe(200);
    expect((await status()).nodes.map((x: any) => x.id)).toEqual([added.body.node]);

    const back = push.requests.length;
    push.mode = 'ok';
    await waitFor('all 20 of dora’s pushes sent (distinct delivery ids)', () => deliveredTo('tok-dora', back).size === 20, 30_000);
    // The hung sends of the drained node were not lost either.
    await waitFor('all 10 of hank’s pushes sent', () => deliveredTo('tok-hank', back).size === 10, 30_000);
  });
});
