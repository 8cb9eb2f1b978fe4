import WebSocket from 'ws';
import { waitFor } from '../support/waitFor';

/** Codes a producer retries with the same event ids (docs/protocol.md, "Error codes": retry yes). */
export const RETRYABLE = new Set([
  'HERALD_UNAVAILABLE',
  'HERALD_OVERLOADED',
  'HERALD_INTERNAL',
  'HERALD_RATE_LIMITED',
  'HERALD_BUSY',
  'HERALD_TOO_MANY_CONNECTIONS',
]);

export interface LikeEvent {
  id: string;
  type: 'like';
  actor: string;
  tweet: { id: string; author: string };
}

export interface DriverOptions {
  /** The gateway's current WebSocket URL: it changes when the gateway restarts (`--port 0`). */
  url: () => string;
  /** A token with role `producer`. */
  token: () => string;
  /** Users that get exactly one timeline entry per event (the authors of the liked tweets, one tweet per event). */
  recipients: string[];
  /** Users who like (never recipients: nobody is notified of their own action). */
  actors: string[];
  /** Events per second, spread over `tickMs` ticks. */
  ratePerSec: number;
  /** Producer sockets; publishes go round-robin over the open ones. */
  sockets: number;
  /** @defaultValue 50 */
  tickMs?: number;
  /** No answer within this is a failed attempt (the server's own node-call deadline is 5 s). @defaultValue 10000 */
  requestTimeoutMs?: number;
  /** Unique per run, part of every event id. */
  runId: string;
}

interface Publish {
  seq: number;
  events: LikeEvent[];
  attempts: number;
  firstSentAt: number;
  acked: boolean;
}

interface Attempt {
  pub: Publish;
  timer: NodeJS.Timeout;
}

/**
 * A producer load with retries: every event has a unique id; a publish that fails with a retryable code, gets no
 * answer in time, or whose socket drops is sent again with the SAME events after an exponential backoff, until
 * it is acked. Every ack is recorded (event id → recipient). Sockets reconnect to `url()` whenever they drop.
 */
export class LoadDriver {
  /** event id → recipient, for every event in an acked publish. */
  readonly acked = new Map<string, string>();
  /** Every event ever generated: event id → recipient. */
  readonly generated = new Map<string, string>();
  readonly stats = {
    publishes: 0,
    attempts: 0,
    acks: 0,
    /** Failed attempts by reason: a retryable code, `timeout`, `socketClosed`, `noSocket`. */
    retries: {} as Record<string, number>,
    /** Answers that must never come: non-retryable errors, acks with the wrong count. */
    fatal: [] as string[],
    maxAckLatencyMs: 0,
    reconnects: 0,
  };
  private readonly socks: ProducerSocket[] = [];
  private readonly outstanding = new Set<Publish>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private tick?: NodeJS.Timeout;
  private seq = 0;
  private eventSeq = 0;
  private rr = 0;
  private closed = false;

  constructor(private readonly opts: DriverOptions) {}

  start(): void {
    for (let i = 0; i < this.opts.sockets; i++) this.socks.push(new ProducerSocket(this, i));
    const tickMs = this.opts.tickMs ?? 50;
    let credit = 0;
    let last = Date.now();
    this.tick = setInterval(() => {
      const now = Date.now();
      credit += ((now - last) / 1000) * this.opts.ratePerSec;
      last = now;
      const n = Math.floor(credit);
      if (n <= 0) return;
      credit -= n;
      for (let off = 0; off < n; off += 100) this.publish(Math.min(100, n - off));
    }, tickMs);
  }

  /** Publishes `count` events at once (in publishes of 100), on top of the steady load: a fault injected right
   * after lands while nodes are writing. */
  burst(count: number): void {
    for (let off = 0; off < count; off += 100) this.publish(Math.min(100, count - off));
  }

  /** Stops generating new events; retries of outstanding ones go on. */
  stopLoad(): void {
    clearInterval(this.tick);
    this.tick = undefined;
  }

  get pending(): number {
    return this.outstanding.size;
  }

  /** Waits until every generated event is acked; throws (with how many are not) if `timeoutMs` passes first. */
  async drain(timeoutMs: number): Promise<void> {
    await waitFor(
      'every generated event acked (outstanding publishes)',
      () => this.outstanding.size,
      (n) => n === 0,
      { timeoutMs, everyMs: 50 },
    );
  }

  /** Drops every producer socket at once (they reconnect). */
  dropSockets(): void {
    for (const s of this.socks) s.terminate();
  }

  close(): void {
    this.closed = true;
    this.stopLoad();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.socks) s.close();
  }

  private publish(count: number): void {
    const { recipients, actors, runId } = this.opts;
    const events: LikeEvent[] = [];
    for (let i = 0; i < count; i++) {
      const n = ++this.eventSeq;
      const recipient = recipients[Math.floor(Math.random() * recipients.length)];
      const actor = actors[Math.floor(Math.random() * actors.length)];
      const id = `${runId}-e${n}`;
      // One tweet per event: likes of one tweet within a window aggregate into one entry (UserActor.aggregate);
      // a tweet of its own keeps exactly one timeline entry per event.
      events.push({ id, type: 'like', actor, tweet: { id: `tw-${n}`, author: recipient } });
      this.generated.set(id, recipient);
    }
    const pub: Publish = { seq: ++this.seq, events, attempts: 0, firstSentAt: Date.now(), acked: false };
    this.stats.publishes++;
    this.outstanding.add(pub);
    this.send(pub);
  }

  /** Sends one attempt of `pub` on the next open socket. */
  send(pub: Publish): void {
    if (this.closed || pub.acked) return;
    const open = this.socks.filter((s) => s.isOpen);
    if (open.length === 0) return this.retry(pub, 'noSocket');
    const sock = open[this.rr++ % open.length];
    pub.attempts++;
    this.stats.attempts++;
    sock.send(pub, `p${pub.seq}.${pub.attempts}`, this.opts.requestTimeoutMs ?? 10_000);
  }

  /** One attempt failed: back off (100 ms doubling to 2 s, jittered) and send the same events again. */
  retry(pub: Publish, reason: string): void {
    if (this.closed || pub.acked) return;
    this.stats.retries[reason] = (this.stats.retries[reason] ?? 0) + 1;
    const base = Math.min(2000, 100 * 2 ** Math.min(pub.attempts, 5));
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        this.send(pub);
      },
      base * (0.5 + Math.random()),
    );
    this.timers.add(t);
  }

  ackd(pub: Publish, accepted: unknown): void {
    if (pub.acked) return;
    if (accepted !== pub.events.length) this.stats.fatal.push(`publish ${pub.seq}: accepted ${String(accepted)} of ${pub.events.length}`);
    pub.acked = true;
    this.outstanding.delete(pub);
    this.stats.acks++;
    this.stats.maxAckLatencyMs = Math.max(this.stats.maxAckLatencyMs, Date.now() - pub.firstSentAt);
    for (const e of pub.events) this.acked.set(e.id, e.tweet.author);
  }

  fatal(pub: Publish, what: string): void {
    this.stats.fatal.push(`publish ${pub.seq}: ${what}`);
    // Not retryable: it will never be acked; stop waiting for it so the run ends and the test reports it.
    this.outstanding.delete(pub);
  }

  get url(): string {
    return this.opts.url();
  }

  get token(): string {
    return this.opts.token();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  trackTimer(t: NodeJS.Timeout): void {
    this.timers.add(t);
  }
}

/** One producer socket: its in-flight attempts by op id; a drop fails all of them (retried) and reconnects. */
class ProducerSocket {
  private ws?: WebSocket;
  private readonly inflight = new Map<string, Attempt>();
  private reconnectTimer?: NodeJS.Timeout;

  constructor(
    private readonly driver: LoadDriver,
    readonly index: number,
  ) {
    this.connect();
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  private connect(): void {
    if (this.driver.isClosed) return;
    const ws = new WebSocket(`${this.driver.url}?token=${encodeURIComponent(this.driver.token)}`, { handshakeTimeout: 5_000 });
    this.ws = ws;
    ws.on('message', (data) => this.onMessage(JSON.parse(data.toString())));
    ws.on('error', () => undefined); // ECONNREFUSED while the gateway restarts: 'close' follows.
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      const failed = [...this.inflight.values()];
      this.inflight.clear();
      for (const a of failed) {
        clearTimeout(a.timer);
        this.driver.retry(a.pub, 'socketClosed');
      }
      if (this.driver.isClosed) return;
      this.driver.stats.reconnects++;
      this.reconnectTimer = setTimeout(() => this.connect(), 100 + Math.random() * 200);
      this.driver.trackTimer(this.reconnectTimer);
    });
  }

  send(pub: Publish, opId: string, timeoutMs: number): void {
    const timer = setTimeout(() => {
      if (!this.inflight.delete(opId)) return;
      this.driver.retry(pub, 'timeout');
    }, timeoutMs);
    this.inflight.set(opId, { pub, timer });
    this.ws!.send(JSON.stringify({ op: 'publish', id: opId, events: pub.events }));
  }

  private onMessage(msg: { op: string; id?: string; code?: string; accepted?: unknown; message?: string }): void {
    const a = msg.id === undefined ? undefined : this.inflight.get(msg.id);
    if (!a) return; // the answer to an attempt already given up on (timed out): the retry decides
    this.inflight.delete(msg.id!);
    clearTimeout(a.timer);
    if (msg.op === 'ack') this.driver.ackd(a.pub, msg.accepted);
    else if (msg.op === 'error' && RETRYABLE.has(msg.code ?? '')) this.driver.retry(a.pub, msg.code!);
    else this.driver.fatal(a.pub, `${msg.op} ${msg.code ?? ''} ${msg.message ?? ''}`);
  }

  terminate(): void {
    this.ws?.terminate();
  }

  close(): void {
    clearTimeout(this.reconnectTimer);
    for (const a of this.inflight.values()) clearTimeout(a.timer);
    this.inflight.clear();
    const ws = this.ws;
    this.ws = undefined;
    ws?.terminate();
  }
}

/** A deliberate pause (load between faults, a fault's timing); a wait for a condition uses waitFor instead. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
