import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { GatewayClient } from './GatewayClient';
import { LatencyRecorder } from './LatencyRecorder';
import { timedId } from './timedId';

/**
 * An open-loop producer: frame k of `frameEvents` events is due at t0 + k × frameEvents / rate, and every 1-2 ms
 * the frames whose time has come are published (round robin over the sockets: the gateway allows each socket a
 * few hundred messages/s). Every event carries its frame's intended time (timedId), so a stalled sender or server
 * shows as latency at the subscriber, never as missing samples.
 */
export class OpenLoop {
  private readonly producers: GatewayClient[] = [];
  private readonly pending = new Map<string, { intended: number; count: number }>();
  private publishSeq = 0;
  seq = 0;
  acked = 0;
  rejected: Record<string, number> = {};
  maxLagMs = 0;
  readonly ackLatency = new LatencyRecorder();
  private stopped = false;
  private done?: Promise<void>;

  constructor(private readonly o: { rate: number; frameEvents: number; makeEvent: (seq: number, id: string) => object }) {}

  /** Opens `sockets` producer sockets (token `token(p)` each); answers them, for the caller to close. */
  async connect(url: string, token: (p: number) => string, sockets: number): Promise<WebSocket[]> {
    for (let p = 0; p < sockets; p++) {
      const client = await GatewayClient.connect(url, token(p), (m) => {
        const pub = m.id !== undefined ? this.pending.get(m.id) : undefined;
        if (!pub) {
          if (m.op === 'error') this.rejected[m.code ?? '?'] = (this.rejected[m.code ?? '?'] ?? 0) + 1;
          return;
        }
        this.pending.delete(m.id!);
        if (m.op === 'ack') {
          this.acked += pub.count;
          this.ackLatency.record(performance.now() - pub.intended);
        } else this.rejected[m.code ?? '?'] = (this.rejected[m.code ?? '?'] ?? 0) + pub.count;
      });
      this.producers.push(client);
    }
    return this.producers.map((c) => c.ws);
  }

  /** Publishes not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Starts offering; runs until `stop()` (or `maxMs`). */
  start(maxMs = Infinity): void {
    const intervalMs = (1000 * this.o.frameEvents) / this.o.rate;
    const t0 = performance.now() + 5;
    this.stopped = false;
    this.done = new Promise<void>((resolve) => {
      let k = 0;
      const tick = () => {
        const now = performance.now();
        while (!this.stopped && t0 + k * intervalMs <= now && k * intervalMs < maxMs) {
          const intended = t0 + k * intervalMs;
          this.maxLagMs = Math.max(this.maxLagMs, now - intended);
          const events = [];
          for (let i = 0; i < this.o.frameEvents; i++) {
            const seq = this.seq++;
            events.push(this.o.makeEvent(seq, timedId(seq, intended)));
          }
          const id = `p${this.publishSeq++}`;
          this.pending.set(id, { intended, count: this.o.frameEvents });
          this.producers[k % this.producers.length].send({ op: 'publish', id, events });
          k++;
        }
        if (this.stopped || k * intervalMs >= maxMs) return resolve();
        setTimeout(tick, Math.max(0, Math.min(2, t0 + k * intervalMs - performance.now())));
      };
      setTimeout(tick, 5);
    });
  }

  /** Stops offering; resolves once the sender has stopped. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Closes the producer sockets. */
  close(): void {
    for (const c of this.producers) c.ws.close();
  }

  /** Resolves when the run started by `start(maxMs)` has offered everything (or was stopped). */
  finished(): Promise<void> {
    return this.done ?? Promise.resolve();
  }
}
