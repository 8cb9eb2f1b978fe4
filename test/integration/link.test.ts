import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameKind, FrameReader, encodeFrame } from '../../cluster/LinkFrame';
import { isAlive } from '../../scripts/ClusterProcess';
import { ClusterProcess, TestData } from '../support/cluster';
import { listeningAddresses } from '../support/listening';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';

// The direct links (gateway ↔ node, node ↔ node) on a real cluster: they carry the data, they authenticate,
// they listen on the private address only, and they come back after a node is killed and respawned.
describe('node links', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  let producer: TestClient;
  let n = 0;

  const stats = async () => {
    const res = await fetch(cluster.info.http + '/v1/admin/stats', { headers: { authorization: `Bearer ${data.token('ops', 'admin')}` } });
    return ((await res.json()) as { nodes: any[] }).nodes;
  };
  const nodeStats = async (id: string) => (await stats()).find((s) => s.nodeId === id);
  const timeline = async (user: string) => {
    const res = await fetch(`${cluster.info.http}/v1/users/${user}/timeline?limit=100`, { headers: { authorization: `Bearer ${data.token('ops', 'admin')}` } });
    return ((await res.json()) as { items: any[] }).items;
  };
  const publish = async (events: object[]) => expect(await producer.request({ op: 'publish', id: `p${++n}`, events })).toMatchObject({ op: 'ack' });
  const closed = (socket: Socket) => new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));
  /** A raw connection to a node's link port; resolves once the node's challenge has arrived. */
  const rawLink = async (port: number) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    const reader = new FrameReader(1024);
    const first = await new Promise<unknown[]>((resolve) => socket.on('data', (c: Buffer) => reader.push(c).forEach((f) => resolve(f as unknown[]))));
    expect(first[0]).toBe(FrameKind.Challenge);
    return socket;
  };

  beforeAll(async () => {
    cluster = await data.startCluster();
    producer = await TestClient.connect(cluster.info.ws, data.token('svc', 'producer'));
  });

  afterAll(async () => {
    producer?.close();
    await cluster?.stop();
    data.remove();
  });

  it('carries the ingest calls and listens on the private address only', async () => {
    const [a, b] = data.usersOnDistinctNodes('l', 2);
    await publish([{ id: `m${++n}`, type: 'mention', actor: a, tweet: { id: `t${n}`, author: a, text: 'hé 🚀', mentions: [b] } }]);
    const owner = await nodeStats(data.ownerOf(b));
    expect(owner.links.received.gateway.ingest).toBeGreaterThanOrEqual(1);
    for (const s of await stats()) {
      const addresses = listeningAddresses(s.pid);
      expect(addresses).toContain(`127.0.0.1:${s.links.address.port}`);
      for (const addr of addresses) expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  });

  it('closes a connection with the wrong HMAC before reading its call, and one announcing an oversize frame', async () => {
    const id = Object.keys(cluster.info.nodes)[0];
    const before = await nodeStats(id);
    const wrong = await rawLink(before.links.address.port);
    wrong.write(
      Buffer.concat([
        encodeFrame([FrameKind.Answer, randomBytes(32), 'gateway', randomBytes(32)], 1024),
        encodeFrame([FrameKind.Call, 1, 'stats', null], 1024),
      ]),
    );
    await closed(wrong);
    const huge = await rawLink(before.links.address.port);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(0x7fffffff);
    huge.write(head);
    await closed(huge);
    const after = await nodeStats(id);
    expect(after.pid).toBe(before.pid);
    expect(after.links.refused - before.links.refused).toBe(2);
    expect(after.links.received.gateway.stats).toBe((before.links.received.gateway.stats ?? 0) + 1); // only ours
  });

  it('relinks after a node is SIGKILLed and respawned: the gateway and the other nodes reach it again', async () => {
    const [author, follower] = data.usersOnDistinctNodes('k', 2);
    const victim = data.ownerOf(follower);
    await publish([{ id: `f${++n}`, type: 'follow', actor: follower, target: author }]);
    const old = await nodeStats(victim);
    process.kill(old.pid, 'SIGKILL');
    await waitFor(`killed node pid ${old.pid} gone`, () => !isAlive(old.pid));
    // Answered over the gateway's new link (it counts as a call from 'gateway'), not comedy's fallback.
    const now = await waitFor(
      `${victim} respawned and answering over a new link`,
      () => nodeStats(victim),
      (s) => !!s && !s.error && s.pid !== old.pid && !!s.links.received.gateway,
      15_000,
    );
    expect(now.pid).not.toBe(old.pid);
    expect(now.links.address.port).not.toBe(old.links.address.port);
    // The gateway's calls (stats, ingest) come over the new link of the new process...
    await publish([{ id: `m${++n}`, type: 'mention', actor: author, tweet: { id: `t${n}`, author, text: 'again', mentions: [follower] } }]);
    expect((await nodeStats(victim)).links.received.gateway.ingest).toBeGreaterThanOrEqual(1);
    // ...and the author's node sends its fanout batch straight to the new port.
    const tweetId = `kt${++n}`;
    await publish([{ id: `tw${n}`, type: 'tweet', actor: author, tweet: { id: tweetId, author, text: 'news', entities: [] } }]);
    const got = await waitFor(
      "the tweet in the follower's timeline",
      () => timeline(follower),
      (items) => items.some((x) => x.tweetId === tweetId),
    );
    expect(got.filter((x) => x.tweetId === tweetId)).toHaveLength(1);
    expect((await nodeStats(victim)).links.received[data.ownerOf(author)]?.fanoutBatch).toBe(1);
  });
});
