import { encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';

// What a client on @msgpack/msgpack sends (an undefined member is written as nil) is accepted as JSON accepts it.
describe('nil optional fields over msgpack', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  const clients: TestClient[] = [];
  const like = (id: string) => ({
    id,
    type: 'like',
    actor: 'alice',
    target: undefined,
    ts: undefined,
    tweet: { id: `t-${id}`, author: 'bob', text: undefined },
  });

  beforeAll(async () => {
    cluster = await data.startCluster();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  it('acks a binary WebSocket publish whose optional fields are nil', async () => {
    const alice = await TestClient.connect(cluster.info.ws, data.token('alice'), { binary: true });
    clients.push(alice);
    expect(await alice.request({ op: 'publish', id: 'p1', events: [like('e1')] })).toMatchObject({ op: 'ack', accepted: 1 });
  });

  it('accepts an application/msgpack publish whose optional fields are nil', async () => {
    const res = await fetch(`${cluster.info.http}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${data.token('alice')}`, 'content-type': 'application/msgpack' },
      body: encode({ events: [like('e2')] }),
    });
    expect(res.status).toBe(200);
    const bob = await TestClient.connect(cluster.info.ws, data.token('bob'));
    clients.push(bob);
    const page = await bob.request({ op: 'timeline', id: 'q1', limit: 10 });
    expect((page.items as { type: string }[]).map((i) => i.type)).toContain('like');
  });
});
