import WebSocket from 'ws';

/** What one subscriber saw, over all its connections: the input of the checker's subscriber half. */
export interface SubscriberLog {
  user: string;
  /** offset → event ids of the first notification received with that offset. */
  received: Map<number, string[]>;
  /** Notifications at or below an offset already received (a redelivery). */
  duplicates: number;
  /** Jumps: a notification above `last + 1` (offsets between were never sent on this stream). */
  jumps: number;
  /** `subscribed` replies with recovered: false (the resume was refused; the client must reload). */
  recoveredFalse: number;
  /** Offsets skipped on purpose after a recovered:false (the client reloads them; not a server gap). */
  skipped: Set<number>;
  connections: number;
  subscribeErrors: number;
  /** Subscribes that got no answer in time (the socket was dropped and reconnected). */
  subscribeTimeouts: number;
  /** Epochs answered by `subscribed` (one, unless the timeline was reset). */
  epochs: Set<string>;
  last: number;
}

/** Longer than the gateway's node-call deadline (5 s), after which it answers an error. */
const SUBSCRIBE_TIMEOUT_MS = 12_000;

type Msg = {
  op: string;
  id?: string;
  code?: string;
  offset?: number;
  epoch?: string;
  recovered?: boolean;
  notification?: { offset: number; eventIds: string[] };
};

/**
 * One user's subscriber socket, resuming like a real client: the first subscribe asks for everything
 * (`since: 0`); after a drop it reconnects to the current URL and subscribes with `since` = the last offset seen
 * and the `epoch` of the last `subscribed` reply. A refused subscribe (owner down) is retried on the same socket.
 */
export class Subscriber {
  readonly log: SubscriberLog;
  private ws?: WebSocket;
  private closed = false;
  private timer?: NodeJS.Timeout;
  private epoch?: string;
  private subscribed = false;

  constructor(
    readonly user: string,
    private readonly url: () => string,
    private readonly token: () => string,
  ) {
    this.log = {
      user,
      received: new Map(),
      duplicates: 0,
      jumps: 0,
      recoveredFalse: 0,
      skipped: new Set(),
      connections: 0,
      subscribeErrors: 0,
      subscribeTimeouts: 0,
      epochs: new Set(),
      last: 0,
    };
  }

  get isSubscribed(): boolean {
    return this.subscribed && this.ws?.readyState === WebSocket.OPEN;
  }

  connect(): void {
    if (this.closed) return;
    // A handshake that never completes (the old port of a restarted gateway taken by another listener) is retried.
    const ws = new WebSocket(`${this.url()}?token=${encodeURIComponent(this.token())}`, { handshakeTimeout: 5_000 });
    this.ws = ws;
    this.subscribed = false;
    ws.on('open', () => {
      this.log.connections++;
      this.subscribe();
    });
    ws.on('message', (data) => this.onMessage(JSON.parse(data.toString()) as Msg));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.subscribed = false;
      this.later(() => this.connect(), 100 + Math.random() * 400);
    });
  }

  private subscribe(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    // No answer at all (neither subscribed nor an error) within the server's own deadlines: drop and reconnect.
    this.later(() => {
      if (this.ws === ws && !this.subscribed) {
        this.log.subscribeTimeouts++;
        ws.terminate();
      }
    }, SUBSCRIBE_TIMEOUT_MS);
    ws.send(JSON.stringify({ op: 'subscribe', since: this.log.last, ...(this.epoch ? { epoch: this.epoch } : {}) }));
  }

  private onMessage(msg: Msg): void {
    const log = this.log;
    if (msg.op === 'subscribed') {
      this.subscribed = true;
      clearTimeout(this.timer);
      if (msg.epoch !== undefined) {
        this.epoch = msg.epoch;
        log.epochs.add(msg.epoch);
      }
      if (msg.recovered === false) {
        // The resume was refused: a real client reloads its timeline. Continue from the offset the server names.
        log.recoveredFalse++;
        for (let o = log.last + 1; o <= (msg.offset ?? 0); o++) log.skipped.add(o);
        log.last = Math.max(log.last, msg.offset ?? 0);
      }
    } else if (msg.op === 'notification' && msg.notification) {
      const n = msg.notification;
      if (n.offset <= log.last || log.received.has(n.offset)) {
        log.duplicates++;
        return;
      }
      if (n.offset > log.last + 1) log.jumps++;
      log.received.set(n.offset, n.eventIds);
      log.last = n.offset;
    } else if (msg.op === 'error' && msg.id === undefined && !this.subscribed) {
      // subscribe refused (its owner is down or respawning): retry on the same socket.
      log.subscribeErrors++;
      this.later(() => this.subscribe(), 200 + Math.random() * 300);
    }
  }

  /** Where this subscriber stands, for a failure message. */
  describe(): object {
    const { user, connections, subscribeErrors, subscribeTimeouts, last, recoveredFalse } = this.log;
    return {
      user,
      connections,
      subscribeErrors,
      subscribeTimeouts,
      last,
      recoveredFalse,
      readyState: this.ws?.readyState,
      subscribed: this.subscribed,
      url: this.ws?.url.split('?')[0],
    };
  }

  /** Drops the socket, as a flaky network would; it reconnects and resumes. */
  kill(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    ws?.terminate();
  }

  private later(fn: () => void, ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }
}
