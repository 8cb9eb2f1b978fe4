import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SMTPServer } from 'smtp-server';
import { verifyWebhook } from '../actors/delivery/channels/WebhookSignature';

/**
 * Local stand-ins for the providers of `npm run bench -- delivery`, adapted from the tests' ProviderServer and
 * SmtpSink (bench/ does not import test/): they keep counts and arrival times, not the messages.
 */

/** Arrivals of one channel: completion times (performance clock) and, for webhooks, queue latency. */
export class Arrivals {
  /** First arrival of each delivery id (a repeat of an id is counted in `duplicates`, not here). */
  times: number[] = [];
  /** Requests that repeated a delivery id already received (at-least-once delivery: the provider drops them). */
  duplicates = 0;
  private seen = new Set<string>();
  /** Webhooks: arrival − the notification's `ts` (ms, wall clock): how long the send waited in herald. */
  lagMs: number[] = [];
  badSignature = 0;

  reset(): void {
    this.times = [];
    this.lagMs = [];
    this.duplicates = 0;
  }

  /** Records a completed request; false when its delivery id came before (a duplicate). */
  arrived(id: string | undefined, at: number): boolean {
    if (id !== undefined) {
      if (this.seen.has(id)) {
        this.duplicates++;
        return false;
      }
      this.seen.add(id);
    }
    this.times.push(at);
    return true;
  }

  get count(): number {
    return this.times.length;
  }

  /** Arrivals in [from, to) (performance clock). */
  between(from: number, to: number): number {
    let n = 0;
    for (const t of this.times) if (t >= from && t < to) n++;
    return n;
  }
}

/**
 * A push/SMS provider on 127.0.0.1: checks the herald signature (401 otherwise), answers 202, after `delayMs`
 * when set (a slow provider), and records each completed request.
 */
export class WebhookSink {
  readonly arrivals = new Arrivals();
  delayMs = 0;
  url = '';
  private inFlight = 0;
  maxInFlight = 0;
  readonly #server: Server;

  private constructor(readonly secret: string) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const signed = verifyWebhook(this.secret, {
          signature: req.headers['x-herald-signature'] as string | undefined,
          timestamp: req.headers['x-herald-timestamp'] as string | undefined,
          body,
        });
        if (!signed) {
          this.arrivals.badSignature++;
          return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad signature"}');
        }
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        const answer = () => {
          res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
          this.inFlight--;
          if (!this.arrivals.arrived(req.headers['x-herald-delivery'] as string | undefined, performance.now())) return;
          const ts = /"ts":(\d+)/.exec(body);
          if (ts) this.arrivals.lagMs.push(Date.now() - Number(ts[1]));
        };
        if (this.delayMs > 0) setTimeout(answer, this.delayMs);
        else answer();
      });
    });
    this.#server.keepAliveTimeout = 60_000;
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  static async start(secret: string): Promise<WebhookSink> {
    const p = new WebhookSink(secret);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    p.url = `http://127.0.0.1:${(p.#server.address() as AddressInfo).port}/hooks/notify`;
    return p;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A real SMTP server (smtp-server, no TLS, no auth) on 127.0.0.1 that accepts and counts every message. */
export class SmtpCounter {
  readonly arrivals = new Arrivals();
  port = 0;
  connections = 0;
  readonly #server: SMTPServer;

  private constructor() {
    this.#server = new SMTPServer({
      logger: false,
      hideSTARTTLS: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      // Many pooled connections from 3 nodes + the raw client.
      maxClients: 1000,
      onConnect: (_session, cb) => {
        this.connections++;
        cb();
      },
      onData: (stream, _session, cb) => {
        // Only the header block is kept, for the X-Herald-Delivery id.
        let head = '';
        stream.on('data', (c: Buffer) => {
          if (head.length < 8192 && !head.includes('\r\n\r\n')) head += c.toString('latin1');
        });
        stream.on('end', () => {
          const id = /^x-herald-delivery:\s*(\S+)/im.exec(head)?.[1];
          this.arrivals.arrived(id, performance.now());
          cb();
        });
      },
    });
  }

  static async start(): Promise<SmtpCounter> {
    const sink = new SmtpCounter();
    // A client that goes away mid-session (a node stopping) is reported here: not an error of the benchmark.
    sink.#server.on('error', () => undefined);
    await new Promise<void>((resolve) => sink.#server.listen(0, '127.0.0.1', resolve));
    sink.port = (sink.#server.server.address() as AddressInfo).port;
    return sink;
  }

  async stop(): Promise<void> {
    for (const c of this.#server.connections) (c as unknown as { close(): void }).close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
