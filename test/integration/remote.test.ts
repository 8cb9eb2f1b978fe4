import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, killQuietly } from '../../scripts/ClusterProcess';
import { ClusterProcess, TestData } from '../support/cluster';
import { listeningAddresses } from '../support/listening';
import { TestClient } from '../support/TestClient';

/** Starts `node dist/scripts/listener.js --port 0` and resolves with its process and port. */
function startListener(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(__dirname, '../../dist/scripts/listener.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listener on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
}

// Remote mode: node actors created on herald listeners (comedy-node), all bound to loopback.
describe('remote mode (--hosts)', () => {
  const data = new TestData();
  const listeners: ChildProcess[] = [];
  let cluster: ClusterProcess | undefined;

  afterAll(async () => {
    await cluster?.stop();
    for (const l of listeners) killQuietly(l.pid!, 'SIGTERM');
    for (const pid of Object.values(cluster?.info.nodes ?? {})) killQuietly(pid);
    data.remove();
  });

  it('runs nodes on listeners and carries non-ASCII text over the TCP transport', async () => {
    const a = await startListener();
    const b = await startListener();
    listeners.push(a.child, b.child);
    cluster = await ClusterProcess.start(['--data', data.dir, '--port', '0', '--hosts', `127.0.0.1:${a.port},127.0.0.1:${b.port}`]);
    expect(Object.keys(cluster.info.nodes)).toEqual(['node-1', 'node-2']);
    for (const pid of Object.values(cluster.info.nodes)) expect(isAlive(pid)).toBe(true);

    const [u1, u2] = data.usersOnDistinctNodes('r', 2);
    const sub = await TestClient.connect(cluster.info.ws, data.token(u2));
    sub.send({ op: 'subscribe' });
    await sub.waitFor((m) => m.op === 'subscribed');
    const pub = await TestClient.connect(cluster.info.ws, data.token(u1));
    const text = 'ünïcødé 🚀 中文';
    expect(
      await pub.request({ op: 'publish', id: 'p', events: [{ id: 'e1', type: 'mention', actor: u1, tweet: { id: 't', author: u1, text, mentions: [u2] } }] }),
    ).toMatchObject({ op: 'ack' });
    const [n] = await sub.waitNotifications(1);
    expect(n.text).toBe(`${u1} mentioned you: ${text}`);
    // The data went over the nodes' direct links, which listen on the listener's private address.
    const res = await fetch(`${cluster.info.http}/v1/admin/stats`, { headers: { authorization: `Bearer ${data.token('ops', 'admin')}` } });
    const nodes = ((await res.json()) as { nodes: any[] }).nodes;
    for (const s of nodes) expect(s.links.address.host).toBe('127.0.0.1');
    expect(nodes.find((s) => s.nodeId === data.ownerOf(u2)).links.received.gateway.ingest).toBeGreaterThanOrEqual(1);
    sub.close();
    pub.close();
  });

  it('binds every listener and node port to the private address given (loopback), never all interfaces', () => {
    const pids = [...listeners.map((l) => l.pid!), ...Object.values(cluster!.info.nodes), cluster!.pid];
    const addresses = pids.flatMap((pid) => listeningAddresses(pid));
    expect(addresses.length).toBeGreaterThanOrEqual(5); // 2 listeners, 2 node actors, the gateway
    for (const a of addresses) expect(a).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});
