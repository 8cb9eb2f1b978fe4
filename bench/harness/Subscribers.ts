import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { GatewayClient, type Notification } from './GatewayClient';
import { intendedOf } from './timedId';

/**
 * Live subscribers, one socket per user: every notification of a timed event reports its latency (arrival −
 * intended send time) to `onLatency`, or goes to the user's own handler (`one`); offsets must arrive in order
 * with no gap.
 */
export class Subscribers {
  gaps = 0;
  closes = 0;
  errors = 0;
  delivered = 0;

  constructor(
    private readonly onLatency?: (intendedMs: number, latencyMs: number, user: string, eventId: string) => void,
    readonly sockets: WebSocket[] = [],
  ) {}

  /** Subscribes every user, `parallel` sockets opening at a time. */
  async subscribe(url: string, users: string[], token: (user: string) => string, log: (s: string) => void, parallel = 50): Promise<void> {
    for (let i = 0; i < users.length; i += parallel) {
      await Promise.all(users.slice(i, i + parallel).map((u) => this.one(url, u, token(u), log)));
    }
  }

  /** Subscribes `user`'s socket; resolves once subscribed. Each notification goes to `onNotification`. */
  async one(url: string, user: string, token: string, log: (s: string) => void, onNotification = (n: Notification) => this.timed(user, n)): Promise<void> {
    let last = -1;
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    const client = await GatewayClient.connect(url, token, (m) => {
      if (m.op === 'notification') {
        const n = m.notification!;
        if (last >= 0 && n.offset !== last + 1) this.gaps++;
        last = n.offset;
        onNotification(n);
      } else if (m.op === 'subscribed') {
        last = m.offset!;
        ready();
      } else if (m.op === 'error') {
        this.errors++;
        if (this.errors <= 5) log(`subscriber ${user} error: ${m.code} ${m.message}`);
      }
    });
    client.ws.on('close', () => this.closes++);
    this.sockets.push(client.ws);
    client.send({ op: 'subscribe' });
    await subscribed;
  }

  /** The latency of a timed event's notification (its newest event id carries the intended send time). */
  private timed(user: string, n: Notification): void {
    const id = n.eventIds[n.eventIds.length - 1] ?? '';
    const intended = intendedOf(id);
    if (intended === undefined) return;
    this.delivered++;
    this.onLatency?.(intended, performance.now() - intended, user, id);
  }

  /** Drops every socket at once. */
  close(): void {
    for (const ws of this.sockets) ws.terminate();
  }
}
