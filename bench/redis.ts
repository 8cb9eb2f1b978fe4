import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { NodeActor } from '../actors/node/NodeActor';
import { childEnvironment, DEFAULT_CONFIG, defaultNodeOptions } from '../core/config';
import type { IngestItem } from '../core/nodeProtocol';
import { Auth } from '../gateway/Auth';
import { ClusterProcess } from '../scripts/ClusterProcess';
import { createLogger } from '../core/logger';
import { NodeStore } from '../storage/NodeStore';
import { parseOptions } from './harness/args';
import { tempDataDir } from './harness/dataDir';
import { GatewayClient, type Msg } from './harness/GatewayClient';
import { printResult, progressLog, runIfEntry } from './harness/main';
import { round } from './harness/round';
import { sleep } from './harness/sleep';

/**
 * Timeline appends side by side: the same workload (append one ~150-byte notification to the timeline of one of
 * `users` users, keep the newest 1,000) against
 *
 *  - redis:          a local redis-server (no persistence), pipelined `LPUSH tl:<user> <json>` + `LTRIM tl:<user> 0 999`,
 *                    `batch` appends per pipeline, `inflight` pipelines in flight: what a timeline service on Redis does;
 *  - herald_node:    herald's own timeline write path in this process: NodeActor.ingest with `batch` items per call
 *                    (per user through its mailbox: dedupe key, timeline entry, counters, retention; written fsynced),
 *                    `inflight` calls in flight: the engine without gateway and IPC; also with the fsync off
 *                    (herald_node_nosync), the closer match to Redis without persistence;
 *  - herald_gateway: (when a cluster is given) the whole path: `like` events published over WebSocket to the gateway
 *                    and acked once durable on 3 nodes (a like also writes the liker's engagement record).
 *
 * Each runs for `seconds`, one after the other. The result holds appends/s of each and the ratios to Redis.
 */

export interface AppendFigure {
  appends_per_s: number;
  appends: number;
  seconds: number;
}

export interface RedisComparison {
  users: number;
  batch: number;
  inflight: number;
  redis: (AppendFigure & { server: string; pipelined: 'LPUSH+LTRIM' }) | { error: string };
  herald_node: AppendFigure;
  herald_node_nosync: AppendFigure;
  herald_gateway?: AppendFigure & { sync_writes: boolean; errors: Record<string, number> };
  ratio_herald_node_vs_redis: number | null;
  ratio_herald_node_nosync_vs_redis: number | null;
  ratio_herald_gateway_vs_redis: number | null;
}

export interface ComparisonOptions {
  seconds: number;
  users: number;
  batch: number;
  inflight: number;
  /** A running cluster to measure the gateway path on: its WS URL and a producer token per socket. */
  gateway?: { url: string; tokens: string[]; syncWrites: boolean };
  log: (s: string) => void;
}

/** A notification as herald stores one (the Redis value is its JSON). */
function notification(offset: number, fan: string, id: string) {
  return { offset, type: 'like', actors: [fan], eventIds: [id], ts: Date.now(), text: `${fan} liked your tweet: b`, tweetId: `tw-${offset % 16}` };
}

export async function compareTimelineAppends(o: ComparisonOptions): Promise<RedisComparison> {
  const redis = await measureRedis(o);
  const nodeSync = await measureHeraldNode(o, true);
  o.log(`herald node (in process, ingest log fsynced): ${nodeSync.appends_per_s} appends/s`);
  const nodeNoSync = await measureHeraldNode(o, false);
  o.log(`herald node (in process, no fsync): ${nodeNoSync.appends_per_s} appends/s`);
  const gateway = o.gateway ? await measureHeraldGateway(o, o.gateway) : undefined;
  if (gateway) o.log(`herald gateway (like events over WS, acked durable on 3 nodes): ${gateway.appends_per_s} appends/s`);
  const base = 'error' in redis ? NaN : redis.appends_per_s;
  return {
    users: o.users,
    batch: o.batch,
    inflight: o.inflight,
    redis,
    herald_node: nodeSync,
    herald_node_nosync: nodeNoSync,
    herald_gateway: gateway,
    ratio_herald_node_vs_redis: round(nodeSync.appends_per_s / base, 4),
    ratio_herald_node_nosync_vs_redis: round(nodeNoSync.appends_per_s / base, 4),
    ratio_herald_gateway_vs_redis: gateway ? round(gateway.appends_per_s / base, 4) : null,
  };
}

// ---- Redis

/** The path of redis-server, installing the Debian package when absent and running as root; else a reason. */
function ensureRedisServer(log: (s: string) => void): string | { error: string } {
  const which = () => spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  let bin = which();
  if (bin) return bin;
  if (process.getuid?.() !== 0) return { error: 'redis-server is not installed and this is not root: install the Debian package redis-server' };
  log('redis-server not found: installing the Debian package redis-server with apt-get (running as root)');
  const env = childEnvironment({ DEBIAN_FRONTEND: 'noninteractive' });
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 300_000 });
    const again = install();
    if (again.status !== 0) return { error: `apt-get install redis-server failed: ${again.stderr?.toString().trim().slice(-300)}` };
  }
  bin = which();
  return bin || { error: 'redis-server still not found after apt-get install' };
}

/** A free loopback port chosen by the OS (closed again before redis-server takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on a free loopback port, no persistence; resolves once it answers PING. */
export async function startRedis(log: (s: string) => void): Promise<{ port: number; version: string; stop: () => Promise<void> } | { error: string }> {
  const bin = ensureRedisServer(log);
  if (typeof bin !== 'string') return bin;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000).then(() => child.kill('SIGKILL'))]);
    };
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined); // refused while the server starts: the loop below retries
    try {
      const deadline = performance.now() + 5000;
      for (;;) {
        try {
          await client.connect();
          const info = await client.info('server');
          const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
          client.disconnect();
          log(`redis-server ${version} on 127.0.0.1:${port} (pid ${child.pid}, no persistence)`);
          return { port, version, stop };
        } catch {
          client.disconnect();
          if (child.exitCode !== null || performance.now() > deadline) break;
          await sleep(50);
        }
      }
    } catch {
      /* retried below */
    }
    await stop();
    log(`redis-server did not start on port ${port}${stderr ? `: ${stderr.trim().slice(-200)}` : ''}; retrying`);
  }
  return { error: 'redis-server did not start' };
}

async function measureRedis(o: ComparisonOptions): Promise<RedisComparison['redis']> {
  const server = await startRedis(o.log);
  if ('error' in server) {
    o.log(`Redis side by side skipped: ${server.error}`);
    return { error: server.error };
  }
  const client = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1 });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => (lastError = err));
  try {
    let appends = 0;
    let seq = 0;
    const t0 = performance.now();
    const end = t0 + o.seconds * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const p = client.pipeline();
        for (let i = 0; i < o.batch; i++) {
          const s = seq++;
          const key = `tl:u${(s * 7919) % o.users}`;
          p.lpush(key, JSON.stringify(notification(s, `fan-${s % 997}`, `R${s}`)));
          p.ltrim(key, 0, 999);
        }
        const res = await p.exec();
        const failed = res?.find(([err]) => err);
        if (failed) throw failed[0];
        appends += o.batch;
      }
    };
    await Promise.all(Array.from({ length: o.inflight }, worker));
    const secs = (performance.now() - t0) / 1000;
    const fig = {
      appends_per_s: Math.round(appends / secs),
      appends,
      seconds: round(secs, 2)!,
      server: `redis-server ${server.version}`,
      pipelined: 'LPUSH+LTRIM' as const,
    };
    o.log(`redis (pipelined LPUSH+LTRIM, ${o.batch} appends per pipeline, ${o.inflight} in flight): ${fig.appends_per_s} appends/s`);
    return fig;
  } catch (err) {
    return { error: `redis workload failed: ${(err as Error).message}${lastError ? ` (${lastError.message})` : ''}` };
  } finally {
    client.disconnect();
    await server.stop();
  }
}

// ---- herald, in process

async function measureHeraldNode(o: ComparisonOptions, sync: boolean): Promise<AppendFigure> {
  const dir = tempDataDir('append');
  const store = await NodeStore.open(dir, { syncWrites: sync, writeBufferMb: DEFAULT_CONFIG.writeBufferMb });
  const shardCount = 256;
  const node = new NodeActor(store, defaultNodeOptions('bench', shardCount), createLogger('bench', 'silent'));
  node.setTable(
    1,
    Array.from({ length: shardCount }, (_, i) => i),
    Array.from({ length: shardCount }, () => 'bench'),
  );
  await node.start();
  try {
    let appends = 0;
    let seq = 0;
    const t0 = performance.now();
    const end = t0 + o.seconds * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const items: IngestItem[] = [];
        for (let i = 0; i < o.batch; i++) {
          const s = seq++;
          const user = `u${(s * 7919) % o.users}`;
          // Only the recipient's part: the timeline append (the liker's records live with the liker).
          items.push({
            event: { id: `H${s}`, type: 'like', actor: `fan-${s % 997}`, tweet: { id: `tw-${s % 16}`, author: user, text: 'b' }, target: user, ts: Date.now() },
            users: [user],
          });
        }
        const res = await node.ingest({ epoch: 1, items });
        const refused = res.errors.find((e) => e !== null);
        if (refused) throw new Error(`ingest refused: ${refused}`);
        appends += items.length;
      }
    };
    await Promise.all(Array.from({ length: o.inflight }, worker));
    const secs = (performance.now() - t0) / 1000;
    return { appends_per_s: Math.round(appends / secs), appends, seconds: round(secs, 2)! };
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- herald, through the gateway

async function measureHeraldGateway(
  o: ComparisonOptions,
  g: NonNullable<ComparisonOptions['gateway']>,
): Promise<NonNullable<RedisComparison['herald_gateway']>> {
  const errors: Record<string, number> = {};
  let appends = 0;
  let seq = 0;
  let end = 0;
  const sockets: GatewayClient[] = [];
  // maxPayload is 64 KiB: publishes of at most 250 events.
  const perPublish = Math.min(o.batch, 250);
  const handlers: Array<(m: Msg) => void> = [];
  try {
    const clients = await Promise.all(
      g.tokens.map(async (token, c) => {
        const client = await GatewayClient.connect(g.url, token, (m) => handlers[c]?.(m));
        sockets.push(client);
        return client;
      }),
    );
    const t0 = performance.now();
    end = t0 + o.seconds * 1000;
    let settledAt = t0;
    await Promise.all(
      clients.map(
        (client, c) =>
          new Promise<void>((resolve) => {
            let inflight = 0;
            let n = 0;
            const send = () => {
              while (inflight < o.inflight && performance.now() < end) {
                const events = [];
                for (let i = 0; i < perPublish; i++) {
                  const s = seq++;
                  const user = `ra-u${(s * 7919) % o.users}`;
                  events.push({ id: `A${s}`, type: 'like', actor: `ra-fan-${s % 997}`, tweet: { id: `tw-${s % 16}`, author: user, text: 'b' } });
                }
                inflight++;
                client.send({ op: 'publish', id: `a${c}-${n++}`, events });
              }
              if (inflight === 0) resolve();
            };
            handlers[c] = (m) => {
              if (m.op === 'ack') {
                appends += m.accepted ?? 0;
                settledAt = performance.now();
              } else if (m.op === 'error') errors[m.code ?? '?'] = (errors[m.code ?? '?'] ?? 0) + 1;
              else return;
              inflight--;
              send();
            };
            client.ws.once('close', () => resolve());
            send();
          }),
      ),
    );
    const secs = (settledAt - t0) / 1000;
    return { appends_per_s: Math.round(appends / secs), appends, seconds: round(secs, 2)!, sync_writes: g.syncWrites, errors };
  } finally {
    for (const client of sockets) client.ws.terminate();
  }
}

// ---- `npm run bench -- redis`

const OPTIONS = {
  seconds: { type: 'number', default: 3, above: 0 },
  users: { type: 'number', default: 1000, min: 1, integer: true },
  batch: { type: 'number', default: 500, min: 1, integer: true },
  inflight: { type: 'number', default: 4, min: 1, integer: true },
  'no-sync': { type: 'boolean' },
  'no-gateway': { type: 'boolean' },
} as const;

/** Standalone: starts its own 3-node cluster for the gateway figure; prints one JSON line last. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseOptions(args, OPTIONS);
  const log = progressLog('redis');
  const opts: ComparisonOptions = { seconds: values.seconds, users: values.users, batch: values.batch, inflight: values.inflight, log };
  const sync = !values['no-sync'];
  const dataDir = tempDataDir('redis-bench');
  let cluster: ClusterProcess | undefined;
  try {
    if (!values['no-gateway']) {
      cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', '--nodes', '3', ...(sync ? [] : ['--no-sync'])]);
      const auth = Auth.fromDataDir(dataDir);
      opts.gateway = { url: cluster.info.ws, tokens: Array.from({ length: 4 }, (_, i) => auth.sign(`redis-bench-${i}`, 'producer', 3600)), syncWrites: sync };
    }
    const result = await compareTimelineAppends(opts);
    printResult({ bench: 'redis', ...result, node: process.version });
  } finally {
    if (cluster) await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Also runnable on its own: `node dist/bench/redis.js [options]` (same as `npm run bench -- redis`).
runIfEntry(module, main);
