import { encode } from '@msgpack/msgpack';
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Level } from 'level';
import { WebSocketServer } from 'ws';
import { tempDataDir } from './harness/dataDir';

/**
 * Raw limits of the two things herald is built on, measured on this machine in the same run as the herald
 * figures, so that a herald figure can be read as a fraction of what the hardware and libraries give.
 */
export interface RawLimits {
  raw_leveldb_batch_ops_per_s: number;
  raw_leveldb_sync_batch_ops_per_s: number;
  raw_leveldb_sync_batches_per_s: number;
  /** Latency of one small fsynced write while 3 LevelDBs on this disk (as 3 nodes) each write back to back. */
  raw_leveldb_sync_write_p50_ms: number;
  raw_leveldb_sync_write_p99_ms: number;
  raw_ws_msgs_per_s: number;
  raw_ws_msg_bytes: number;
  raw_ipc_msgs_per_s: number;
  raw_ipc_msg_bytes: number;
}

const BATCH = 1000;

/** 1000-op chained batches of ~100-byte puts, written back to back for `ms`; ops/s. */
export async function leveldbBatchRate(dir: string, sync: boolean, ms: number): Promise<{ opsPerS: number; batchesPerS: number }> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const value = new Uint8Array(100).fill(7);
  let seq = 0;
  let batches = 0;
  try {
    const t0 = performance.now();
    let now = t0;
    while (now - t0 < ms) {
      const batch = db.batch();
      for (let i = 0; i < BATCH; i++) batch.put('00ab!t!user-' + (seq % 997) + '!' + String(seq++).padStart(15, '0'), value);
      await batch.write({ sync });
      batches++;
      now = performance.now();
    }
    const secs = (now - t0) / 1000;
    return { opsPerS: (batches * BATCH) / secs, batchesPerS: batches / secs };
  } finally {
    await db.close();
  }
}

/**
 * The floor under a synced publish's latency: `writers` LevelDBs on this disk (herald's 3 nodes share one) each
 * write small fsynced batches back to back for `ms`; the latency of each write (ms, sorted). An event that
 * arrives while its node's fsync is on disk waits for it and then for its own: about two of these.
 */
export async function leveldbSyncLatency(dir: string, writers: number, ms: number): Promise<number[]> {
  const value = new Uint8Array(200).fill(7);
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const db = new Level<string, Uint8Array>(join(dir, `w${w}`), { keyEncoding: 'utf8', valueEncoding: 'view' });
      await db.open();
      try {
        for (let seq = 0; performance.now() - t0 < ms; seq++) {
          const start = performance.now();
          const batch = db.batch();
          for (let i = 0; i < 20; i++) batch.put('00ab!t!user-' + (seq % 97) + '!' + String(seq * 20 + i).padStart(15, '0'), value);
          await batch.write({ sync: true });
          latencies.push(performance.now() - start);
        }
      } finally {
        await db.close();
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

/** A notification frame as herald sends one live (msgpack), for the raw WebSocket figure. */
export function sampleFrame(): Uint8Array {
  return encode({
    op: 'notification',
    notification: {
      offset: 123456,
      type: 'like',
      actors: ['fan-1234'],
      eventIds: ['T123456'],
      ts: Date.now(),
      text: 'fan-1234 liked your tweet: b',
      tweetId: 'tw-r-17-3',
    },
  });
}

/**
 * Messages/s one WebSocket carries from a sender (a worker thread, so sender and receiver each have a core, as
 * herald's gateway and its clients do) to a receiver on 127.0.0.1, counting messages received.
 */
export async function wsMessageRate(ms: number): Promise<{ msgsPerS: number; bytes: number }> {
  const frame = sampleFrame();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as AddressInfo).port;
  let received = 0;
  let t0 = 0;
  let tEnd = 0;
  let countAtEnd = 0;
  const done = new Promise<void>((resolve) => {
    wss.on('connection', (ws) => {
      ws.on('message', () => {
        if (received++ === 0) {
          t0 = performance.now();
          setTimeout(() => {
            tEnd = performance.now();
            countAtEnd = received;
            resolve();
          }, ms);
        }
      });
    });
  });
  const worker = new Worker(join(__dirname, 'wsSender.js'), { workerData: { url: `ws://127.0.0.1:${port}`, frame } });
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  try {
    await Promise.race([done, failed]);
  } finally {
    await worker.terminate();
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
  return { msgsPerS: (countAtEnd - 1) / ((tEnd - t0) / 1000), bytes: frame.byteLength };
}

/**
 * Messages/s from a parent to a forked child over the IPC channel (`process.send`, JSON serialization: what
 * comedy uses between the gateway and a forked node), each a base64 msgpack payload as NodeRef sends. The child
 * acks every 500 messages; at most 5,000 are unacked, so the pipe is always full but memory stays flat.
 */
export async function ipcMessageRate(ms: number): Promise<{ msgsPerS: number; bytes: number }> {
  const payload = Buffer.from(
    encode({
      op: 'ingest',
      args: { epoch: 1, items: [{ event: { id: 'e1', type: 'like', actor: 'fan-1', tweet: { id: 'tw-1', author: 'bob', text: 'b' } }, users: ['bob'] }] },
    }),
  ).toString('base64');
  const child = fork(join(__dirname, 'ipcChild.js'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const WINDOW = 5000;
  let sent = 0;
  let acked = 0;
  let t0 = 0;
  let tAck = 0;
  let stopAt = Infinity;
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`ipc child exited with ${code}`)));
      const pump = () => {
        while (sent - acked < WINDOW && performance.now() < stopAt) {
          child.send(payload);
          sent++;
        }
      };
      child.on('message', (m: { ready?: boolean; received?: number }) => {
        if (m.ready) {
          t0 = performance.now();
          stopAt = t0 + ms;
          // If the last acks never come (fewer than 500 outstanding at the stop), end with the figure so far.
          setTimeout(resolve, ms + 1000).unref();
          pump();
          return;
        }
        acked = m.received ?? acked;
        tAck = performance.now();
        if (tAck >= stopAt) resolve();
        else pump();
      });
    });
  } finally {
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
  }
  return { msgsPerS: acked / ((tAck - t0) / 1000), bytes: Buffer.byteLength(JSON.stringify(payload)) };
}

/** Every raw limit, ~`ms` each, on a temp dir of the same filesystem as herald's data. */
export async function measureLimits(ms = 1500, log: (s: string) => void = () => undefined): Promise<RawLimits> {
  const dir = tempDataDir('limits');
  try {
    const plain = await leveldbBatchRate(join(dir, 'plain'), false, ms);
    log(`raw leveldb, 1000-op batches, no sync: ${Math.round(plain.opsPerS)} ops/s`);
    const synced = await leveldbBatchRate(join(dir, 'sync'), true, ms);
    log(`raw leveldb, 1000-op batches, sync:true: ${Math.round(synced.opsPerS)} ops/s (${Math.round(synced.batchesPerS)} fsynced batches/s)`);
    const syncLatency = await leveldbSyncLatency(join(dir, 'latency'), 3, ms);
    const at = (q: number) => Math.round(syncLatency[Math.min(syncLatency.length - 1, Math.floor(q * syncLatency.length))] * 100) / 100;
    log(`raw leveldb, small fsynced writes by 3 databases at once: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
    const ws = await wsMessageRate(ms);
    log(`raw ws, ${ws.bytes}-byte msgpack messages: ${Math.round(ws.msgsPerS)} msgs/s received`);
    const ipc = await ipcMessageRate(ms);
    log(`raw ipc, parent -> forked child process.send of ${ipc.bytes}-byte messages: ${Math.round(ipc.msgsPerS)} msgs/s`);
    return {
      raw_leveldb_batch_ops_per_s: Math.round(plain.opsPerS),
      raw_leveldb_sync_batch_ops_per_s: Math.round(synced.opsPerS),
      raw_leveldb_sync_batches_per_s: Math.round(synced.batchesPerS),
      raw_leveldb_sync_write_p50_ms: at(0.5),
      raw_leveldb_sync_write_p99_ms: at(0.99),
      raw_ws_msgs_per_s: Math.round(ws.msgsPerS),
      raw_ws_msg_bytes: ws.bytes,
      raw_ipc_msgs_per_s: Math.round(ipc.msgsPerS),
      raw_ipc_msg_bytes: ipc.bytes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
