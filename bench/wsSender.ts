import { workerData } from 'node:worker_threads';
import WebSocket from 'ws';

/**
 * Worker thread of the raw WebSocket limit (bench/limits.ts): sends one pre-encoded frame as fast as the socket
 * takes it, keeping at most ~1 MB unsent so memory stays flat, until the main thread terminates the worker.
 */
const { url, frame } = workerData as { url: string; frame: Uint8Array };
const buf = Buffer.from(frame);
const ws = new WebSocket(url, { perMessageDeflate: false });

function pump(): void {
  while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1 << 20) {
    for (let i = 0; i < 256; i++) ws.send(buf, { binary: true });
  }
  if (ws.readyState === WebSocket.OPEN) setImmediate(pump);
}

ws.on('open', pump);
ws.on('error', () => undefined);
