import { decode, encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';
import { ProviderServer } from '../unit/actors/delivery/channels/ProviderServer';

// A user's settings across processes: merge-patch updates over HTTP (JSON and msgpack) and WebSocket.
describe('settings', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  let push: ProviderServer;
  const clients: TestClient[] = [];

  const put = async (user: string, body: object, format: 'json' | 'msgpack' = 'json') => {
    const res = await fetch(`${cluster.info.http}/v1/users/${user}/settings`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${data.token(user)}`, 'content-type': `application/${format}`, accept: `application/${format}` },
      body: format === 'json' ? JSON.stringify(body) : encode(body),
    });
    const answer = format === 'json' ? await res.json() : decode(new Uint8Array(await res.arrayBuffer()));
    return { status: res.status, ...(answer as { settings?: object }) };
  };

  beforeAll(async () => {
    push = await ProviderServer.start('push-secret-0123456789');
    cluster = await data.startCluster([], {
      channels: { push: { url: push.url, secret: push.secret, timeoutMs: 1000 } },
      pushCap: { max: 100, windowMs: 24 * 3600_000, minGapMs: 0 },
      sender: { concurrency: 2, maxAttempts: 3, baseBackoffMs: 20, maxBackoffMs: 100 },
    });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    await push?.stop();
    data.remove();
  });

  it('takes parts back with null (JSON Merge Patch) over HTTP, in JSON and msgpack, and keeps what is left out', async () => {
    const full = {
      tz: 'Europe/Paris',
      devices: { push: ['tok-ana'], sms: '+33612345678', email: 'ana@example.test' },
      channels: { follow: { push: false, email: true } },
      quietHours: { start: '22:00', end: '07:30' },
    };
    expect(await put('ana', full)).toMatchObject({ status: 200, settings: full });
    expect(await put('ana', { quietHours: null, devices: { sms: null } })).toEqual({
      status: 200,
      settings: { tz: 'Europe/Paris', devices: { push: ['tok-ana'], email: 'ana@example.test' }, channels: full.channels },
    });
    expect(await put('ana', { devices: { email: null }, channels: { follow: null } }, 'msgpack')).toEqual({
      status: 200,
      settings: { tz: 'Europe/Paris', devices: { push: ['tok-ana'] }, channels: {} },
    });
  });

  it('takes parts back with null over the WebSocket settings op, in binary and text frames', async () => {
    const bin = await TestClient.connect(cluster.info.ws, data.token('bo'), { binary: true });
    const text = await TestClient.connect(cluster.info.ws, data.token('bo'));
    clients.push(bin, text);
    await bin.request({
      op: 'settings',
      id: 's1',
      settings: { devices: { push: ['tok-bo'], sms: '+33612345679' }, quietHours: { start: '01:00', end: '02:00' } },
    });
    expect(await bin.request({ op: 'settings', id: 's2', settings: { quietHours: null, devices: { sms: null } } })).toEqual({
      op: 'settings',
      id: 's2',
      settings: { devices: { push: ['tok-bo'] } },
    });
    expect(await text.request({ op: 'settings', id: 's3', settings: { devices: null } })).toEqual({ op: 'settings', id: 's3', settings: {} });
  });

  it('prunes a device token the push provider answers 410 for: gone from the settings, said there and counted', async () => {
    const dead = 'tok-cy-dead-0001';
    await put('cy', { devices: { push: [dead, 'tok-cy-live-0002'] } });
    push.gone.add(dead);
    const res = await fetch(`${cluster.info.http}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${data.token('svc', 'producer')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: 'f-cy', type: 'follow', actor: 'dan', target: 'cy' }] }),
    });
    expect(res.status).toBe(200);
    const read = async () =>
      (await (await fetch(`${cluster.info.http}/v1/users/cy/settings`, { headers: { authorization: `Bearer ${data.token('cy')}` } })).json()).settings;
    const settings = await waitFor("cy's dead token pruned", async () => {
      const s = await read();
      return s.devices.push.length === 1 ? s : undefined;
    });
    expect(settings.devices.push).toEqual(['tok-cy-live-0002']);
    expect(settings.pruned).toEqual([{ to: '***0001', channel: 'push', at: expect.any(Number), reason: 'HERALD_PROVIDER_REJECTED 410' }]);
    const metrics = await (await fetch(`${cluster.info.http}/metrics`, { headers: { authorization: `Bearer ${data.token('ops', 'admin')}` } })).text();
    const pruned = [...metrics.matchAll(/^herald_node_push_tokens_pruned_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(pruned).toBe(1);
  });
});
