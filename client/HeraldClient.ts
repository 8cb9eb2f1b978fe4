import { SUPERSEDED, type HeraldEvent, type Notification } from '../core/Event';
import { Backoff, type BackoffOptions } from './Backoff';
import { HeraldClientError } from './HeraldClientError';
import { Listeners } from './Listeners';
import type { ClientFrame, Cursor, PublishResult, ReadResult, ServerFrame, Subscribed, TimelinePage } from './Messages';
import { OPEN, webSocketClass, type WebSocketConstructor, type WebSocketLike } from './WebSocketLike';
import { decodeFrame, encodeFrame, type WireFormat } from './WireFormat';

/** A value, or a function giving it (sync or async), asked again before every connection attempt. */
export type Source<T> = T | (() => T | Promise<T>);

export interface HeraldClientOptions {
  /**
   * WebSocket URL of the gateway, e.g. `ws://127.0.0.1:7070/v1/ws`, or a function giving it (asked before every
   * connection attempt: a load balancer's pick, a cluster that moved).
   */
  url: Source<string>;
  /**
   * Token (docs/protocol.md), or a function giving a fresh one: asked before every connection attempt, so an
   * expiring token is refreshed on reconnect. Sent as the `token` query parameter, which browsers allow.
   */
  token: Source<string>;
  /**
   * Frame format: `msgpack` (binary frames, smaller) or `json` (text frames, readable in devtools).
   * @defaultValue `'msgpack'`
   */
  format?: WireFormat;
  /**
   * Waits between reconnect attempts: full jitter, ceiling `initialMs * factor^attempt` capped at `maxMs`.
   * @defaultValue `{ initialMs: 200, maxMs: 10_000, factor: 2 }`
   */
  backoff?: BackoffOptions;
  /**
   * Deadline of a request (publish, timeline, read, subscribe) from the call to its answer, waiting for a
   * connection included; also the deadline of opening one socket. Past it a request fails with
   * `HERALD_UNAVAILABLE` (retryable).
   * @defaultValue `10_000`
   */
  requestTimeoutMs?: number;
  /**
   * WebSocket class to use. Browsers and Node 22 have a global one; in Node 20 pass the `ws` package's:
   * `import WebSocket from 'ws'; new HeraldClient({ ..., WebSocket })`.
   * @defaultValue `globalThis.WebSocket`
   */
  WebSocket?: WebSocketConstructor;
}

/**
 * - `idle`: not started (before `connect()` or the first request);
 * - `connecting`: resolving url/token and opening a socket;
 * - `open`: the socket is open (after a resubscribe, notifications flow again once `subscribed` is emitted);
 * - `reconnecting`: the socket dropped or could not be opened; waiting for the backoff to try again;
 * - `closed`: `close()` was called. Final.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Details of a state change: `attempt` counts failed attempts in a row; `delayMs` is the backoff before the next. */
export interface StateChange {
  attempt: number;
  delayMs?: number;
  /** Close code and reason of the socket that dropped (1006: never opened or lost; 4008: slow consumer). */
  code?: number;
  reason?: string;
}

export interface SubscribeOptions {
  /** Resume after this offset: every entry above it is replayed, then live ones. Without it, only live ones. */
  since?: number;
  /** The epoch `since` belongs to (from a previous `subscribed` or `client.cursor`); another epoch → reload. */
  epoch?: string;
  /** Called when the server could not resume (`recovered: false`): reload the timeline (`timeline()`). */
  onReload?: (subscribed: Subscribed) => void;
}

/** Events of `client.on(...)`. */
export type HeraldClientEvents = {
  /** The connection state changed. */
  state: [state: ConnectionState, change: StateChange];
  /** A subscribe (the first or a resubscribe after a reconnect) was answered. */
  subscribed: [subscribed: Subscribed];
  /** A subscribe was answered with `recovered: false`: nothing was replayed, the app must reload its timeline. */
  reload: [subscribed: Subscribed];
  /** Something failed outside any request: a bad frame, a listener or callback that threw, a failed resubscribe. */
  error: [error: unknown];
};

interface Pending {
  frame: ClientFrame & { id: string };
  resolve: (frame: ServerFrame) => void;
  reject: (err: HeraldClientError) => void;
  timer: ReturnType<typeof setTimeout>;
  sent: boolean;
}

interface Subscription {
  onNotification: (n: Notification) => void;
  onReload?: (subscribed: Subscribed) => void;
  /** Highest offset delivered, or caught up to by a `subscribed` answer; undefined before the first one without `since`. */
  cursor?: number;
  epoch?: string;
  /** Subscribed on the current socket: notifications are expected. */
  live: boolean;
  /** A subscribe frame is out on the current socket, unanswered. */
  awaiting: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** The promise of `subscribe()`, until its first answer. */
  first?: { resolve: (s: Subscribed) => void; reject: (err: HeraldClientError) => void };
}

/** WebSocket close code the client uses when it gives up on a socket (open or subscribe timed out, a gap). */
const CLOSE_CLIENT_ABANDON = 4000;
/** close() waits at most this long for the socket's close event. */
const CLOSE_WAIT_MS = 1_000;

/**
 * A typed herald client for browsers and Node: publish, page and mark read the timeline, and a subscription that
 * survives reconnects. See client/README.md for the semantics of reconnects, deduplication and errors.
 */
export class HeraldClient {
  private readonly opts: Required<Pick<HeraldClientOptions, 'format' | 'requestTimeoutMs'>> & HeraldClientOptions;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly backoff: Backoff;
  private readonly events = new Listeners<HeraldClientEvents>((err) => this.events.emit('error', err));
  private readonly pending = new Map<string, Pending>();
  private readonly idPrefix = randomId();
  private seq = 0;
  private currentState: ConnectionState = 'idle';
  private socket?: WebSocketLike;
  private openTimer?: ReturnType<typeof setTimeout>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  /** Failed attempts in a row; back to 0 once a connection works (open, and resubscribed if subscribed). */
  private attempt = 0;
  private openWaiters: Array<{ resolve: () => void; reject: (err: HeraldClientError) => void }> = [];
  private subscription?: Subscription;

  constructor(options: HeraldClientOptions) {
    this.opts = { format: 'msgpack', requestTimeoutMs: 10_000, ...options };
    if (this.opts.format !== 'json' && this.opts.format !== 'msgpack') throw new TypeError(`unknown format ${String(this.opts.format)}`);
    this.WebSocketClass = webSocketClass(options.WebSocket);
    this.backoff = new Backoff(options.backoff);
  }

  /** The connection state (see {@link ConnectionState}). */
  get state(): ConnectionState {
    return this.currentState;
  }

  /**
   * Where the subscription stands: persist it and pass it as `{ since: offset, epoch }` to a later `subscribe()`
   * (another page load, another process) to resume without loss. Undefined before the first `subscribed`.
   */
  get cursor(): Cursor | undefined {
    const sub = this.subscription;
    return sub?.cursor !== undefined && sub.epoch !== undefined ? { offset: sub.cursor, epoch: sub.epoch } : undefined;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof HeraldClientEvents>(name: K, listener: (...args: HeraldClientEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  /**
   * Opens the connection (if not yet started) and resolves once a socket is open. A failed attempt is retried
   * with backoff, forever: watch `on('state')` to show it. Rejects only if `close()` is called first.
   * Requests and `subscribe()` connect by themselves; calling `connect()` first is optional.
   */
  connect(): Promise<void> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (this.currentState === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.openWaiters.push({ resolve, reject });
      this.start();
    });
  }

  /**
   * Publishes 1..500 events; resolves once every owning node wrote them durably. Rejects with a
   * {@link HeraldClientError}: retry a `retryable` one with the same event ids (publishing is idempotent per
   * `(actor, id)`). A publish is sent at most once by the client itself.
   */
  async publish(events: HeraldEvent[]): Promise<PublishResult> {
    const reply = await this.request({ op: 'publish', id: this.nextId(), events });
    return { accepted: (reply as { accepted?: number }).accepted ?? 0 };
  }

  /** A page of the own timeline, newest first: `before` an offset (exclusive), `limit` 1..100 (default 20). */
  async timeline(opts: { before?: number; limit?: number } = {}): Promise<TimelinePage> {
    const reply = (await this.request({ op: 'timeline', id: this.nextId(), before: opts.before, limit: opts.limit })) as TimelinePage;
    const page: TimelinePage = { items: reply.items ?? [], unread: reply.unread };
    if (reply.next !== undefined && reply.next !== null) page.next = reply.next;
    return page;
  }

  /** Moves the read marker up to `upTo` (never back, never past the newest entry); resolves with the unread count. */
  async read(upTo: number): Promise<ReadResult> {
    const reply = await this.request({ op: 'read', id: this.nextId(), upTo });
    return { unread: (reply as { unread?: number }).unread ?? 0 };
  }

  /**
   * Subscribes to the own timeline: `onNotification` gets every notification once, in offset order, across
   * reconnects (each reconnect resubscribes with `since` = the highest offset delivered and the last epoch).
   * Resolves with the first `subscribed` answer; when it says `recovered: false`, `onReload` and the `reload`
   * event fire. One subscription per client; it lasts until `close()`. Rejects on a non-retryable server error
   * (the subscription is then dropped) or `close()`; retryable failures are retried with backoff.
   */
  subscribe(onNotification: (n: Notification) => void, opts: SubscribeOptions = {}): Promise<Subscribed> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (this.subscription) return Promise.reject(new HeraldClientError('HERALD_INVALID_MESSAGE', 'already subscribed', false));
    return new Promise((resolve, reject) => {
      this.subscription = {
        onNotification,
        onReload: opts.onReload,
        cursor: opts.since,
        epoch: opts.epoch,
        live: false,
        awaiting: false,
        first: { resolve, reject },
      };
      if (this.socket && this.currentState === 'open') this.sendSubscribe(this.socket);
      else this.start();
    });
  }

  /**
   * Closes the connection for good: no reconnect; pending requests and a pending `subscribe()` reject with
   * `HERALD_CLOSED`. Resolves once the socket is closed (at most ~1 s).
   */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    const sock = this.socket;
    this.socket = undefined;
    clearTimeout(this.openTimer);
    clearTimeout(this.retryTimer);
    const sub = this.subscription;
    if (sub) {
      clearTimeout(sub.timer);
      sub.live = sub.awaiting = false;
      sub.first?.reject(closedError());
      sub.first = undefined;
    }
    for (const id of [...this.pending.keys()]) this.settle(id, closedError());
    for (const w of this.openWaiters.splice(0)) w.reject(closedError());
    this.setState('closed', { attempt: this.attempt });
    if (sock) await closeSocket(sock);
  }

  // --- connection -------------------------------------------------------------------------------------------

  private start(): void {
    if (this.currentState === 'idle') void this.dial();
  }

  private async dial(): Promise<void> {
    this.retryTimer = undefined;
    this.setState('connecting', { attempt: this.attempt });
    let target: string;
    try {
      const [url, token] = await Promise.all([resolveSource(this.opts.url), resolveSource(this.opts.token)]);
      target = withToken(url, token);
    } catch (err) {
      if (this.currentState !== 'connecting') return;
      this.events.emit('error', err);
      return this.scheduleReconnect({});
    }
    if (this.currentState !== 'connecting') return; // closed meanwhile
    let sock: WebSocketLike;
    try {
      sock = new this.WebSocketClass(target);
      sock.binaryType = 'arraybuffer';
    } catch (err) {
      this.events.emit('error', err);
      return this.scheduleReconnect({});
    }
    this.socket = sock;
    this.openTimer = setTimeout(() => this.abandon(sock, 'open timed out'), this.opts.requestTimeoutMs);
    sock.addEventListener('open', () => this.onOpen(sock));
    sock.addEventListener('message', (ev) => this.onFrame(sock, ev.data));
    sock.addEventListener('close', (ev) => this.onSocketClosed(sock, ev.code, String(ev.reason ?? '')));
    // A close event always follows an error; the error itself says nothing a client can act on.
    sock.addEventListener('error', () => undefined);
  }

  private onOpen(sock: WebSocketLike): void {
    if (this.socket !== sock) return;
    clearTimeout(this.openTimer);
    for (const p of this.pending.values()) if (!p.sent) this.transmit(sock, p);
    if (this.socket !== sock) return; // a send failed: the socket was abandoned
    if (this.subscription) this.sendSubscribe(sock);
    else this.attempt = 0;
    this.setState('open', { attempt: this.attempt });
    for (const w of this.openWaiters.splice(0)) w.resolve();
  }

  private onSocketClosed(sock: WebSocketLike, code: number, reason: string): void {
    if (this.socket !== sock) return;
    this.socket = undefined;
    clearTimeout(this.openTimer);
    for (const [id, p] of [...this.pending]) {
      if (p.sent) this.settle(id, new HeraldClientError('HERALD_UNAVAILABLE', `connection closed (${code}) before an answer; retry with the same ids`, true));
    }
    const sub = this.subscription;
    if (sub) {
      clearTimeout(sub.timer);
      sub.live = sub.awaiting = false;
    }
    if (this.currentState !== 'closed') this.scheduleReconnect({ code, reason });
  }

  /** Gives up on a socket at once (its close handshake may take long): as if it had closed. */
  private abandon(sock: WebSocketLike, reason: string): void {
    if (this.socket !== sock) return;
    try {
      sock.close(CLOSE_CLIENT_ABANDON, reason);
    } catch {
      /* already closing */
    }
    this.onSocketClosed(sock, CLOSE_CLIENT_ABANDON, reason);
  }

  private scheduleReconnect(info: { code?: number; reason?: string }): void {
    const delayMs = this.backoff.delay(this.attempt);
    this.attempt++;
    this.setState('reconnecting', { attempt: this.attempt, delayMs, ...info });
    this.retryTimer = setTimeout(() => void this.dial(), delayMs);
  }

  private setState(state: ConnectionState, change: StateChange): void {
    this.currentState = state;
    this.events.emit('state', state, change);
  }

  // --- frames -----------------------------------------------------------------------------------------------

  private onFrame(sock: WebSocketLike, data: unknown): void {
    if (this.socket !== sock) return;
    let msg: ServerFrame;
    try {
      msg = decodeFrame(data) as ServerFrame;
    } catch (err) {
      this.events.emit('error', new HeraldClientError('HERALD_BAD_FRAME', `undecodable frame from the server: ${(err as Error).message}`, false));
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.op) {
      case 'notification':
        return this.onNotification(sock, msg.notification);
      case 'subscribed':
        return this.onSubscribed(msg);
      case 'error':
        if (typeof msg.id === 'string' && this.pending.has(msg.id)) {
          return this.settle(msg.id, new HeraldClientError(msg.code, msg.message));
        }
        return this.onUnaddressedError(sock, new HeraldClientError(msg.code, msg.message));
      default:
        if ('id' in msg && typeof msg.id === 'string') this.settle(msg.id, msg);
    }
  }

  private transmit(sock: WebSocketLike, p: Pending): void {
    p.sent = true;
    this.send(sock, p.frame);
  }

  private send(sock: WebSocketLike, frame: ClientFrame): void {
    try {
      sock.send(encodeFrame(frame, this.opts.format));
    } catch (err) {
      this.events.emit('error', err);
      this.abandon(sock, 'send failed');
    }
  }

  // --- requests ---------------------------------------------------------------------------------------------

  private nextId(): string {
    return `${this.idPrefix}-${(++this.seq).toString(36)}`;
  }

  /** Sends now if open, else when the next socket opens; never twice. Answers, errors and timeouts settle it. */
  private request(frame: ClientFrame & { id: string }): Promise<ServerFrame> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settle(
            frame.id,
            new HeraldClientError('HERALD_UNAVAILABLE', `no answer within ${this.opts.requestTimeoutMs} ms; retry with the same ids`, true),
          ),
        this.opts.requestTimeoutMs,
      );
      const p: Pending = { frame, resolve, reject, timer, sent: false };
      this.pending.set(frame.id, p);
      if (this.socket && this.currentState === 'open' && this.socket.readyState === OPEN) this.transmit(this.socket, p);
      else this.start();
    });
  }

  private settle(id: string, outcome: ServerFrame | HeraldClientError): void {
    const p = this.pending.get(id);
    if (!p) return; // answered after its timeout
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (outcome instanceof HeraldClientError) p.reject(outcome);
    else p.resolve(outcome);
  }

  // --- subscription -----------------------------------------------------------------------------------------

  private sendSubscribe(sock: WebSocketLike): void {
    const sub = this.subscription!;
    sub.awaiting = true;
    sub.live = false;
    clearTimeout(sub.timer);
    sub.timer = setTimeout(() => {
      this.events.emit('error', new HeraldClientError('HERALD_UNAVAILABLE', `subscribe: no answer within ${this.opts.requestTimeoutMs} ms`, true));
      this.abandon(sock, 'subscribe timed out');
    }, this.opts.requestTimeoutMs);
    this.send(sock, { op: 'subscribe', since: sub.cursor, epoch: sub.epoch });
  }

  private onSubscribed(msg: Subscribed): void {
    const sub = this.subscription;
    if (!sub?.awaiting) return;
    clearTimeout(sub.timer);
    sub.awaiting = false;
    sub.live = true;
    const s: Subscribed = { offset: msg.offset, unread: msg.unread, epoch: msg.epoch, recovered: msg.recovered !== false };
    // Recovered: the replay starts right above the cursor. Not recovered (or nothing to resume from): the server
    // sends only what comes after its newest offset, in that epoch's offsets, so the cursor jumps there.
    if (!s.recovered || sub.cursor === undefined) sub.cursor = s.offset;
    if (s.epoch !== undefined) sub.epoch = s.epoch;
    this.attempt = 0;
    const first = sub.first;
    sub.first = undefined;
    first?.resolve(s);
    this.events.emit('subscribed', s);
    if (!s.recovered) {
      try {
        sub.onReload?.(s);
      } catch (err) {
        this.events.emit('error', err);
      }
      this.events.emit('reload', s);
    }
  }

  /** Exactly once and in order: an offset at or below the cursor is a duplicate; above cursor + 1 is a gap. */
  private onNotification(sock: WebSocketLike, n: Notification): void {
    const sub = this.subscription;
    if (!sub?.live || sub.cursor === undefined || typeof n?.offset !== 'number') return;
    if (n.offset <= sub.cursor) return;
    if (n.offset !== sub.cursor + 1) {
      // The server never skips; if it ever did, a resubscribe from the cursor fills the gap.
      this.events.emit('error', new HeraldClientError('HERALD_INTERNAL', `gap: got offset ${n.offset} after ${sub.cursor}; resubscribing`, true));
      return this.abandon(sock, 'gap in offsets');
    }
    sub.cursor = n.offset;
    // A replay's stand-in for an entry a later aggregate superseded: the offset counts, there is nothing to show.
    if (n.type === SUPERSEDED) return;
    try {
      sub.onNotification(n);
    } catch (err) {
      this.events.emit('error', err);
    }
  }

  /**
   * An error frame without a known id: subscribe frames carry no id, so while one is unanswered the error is
   * its answer. Retryable: reconnect and try again. Not retryable: the subscription is dropped.
   */
  private onUnaddressedError(sock: WebSocketLike, err: HeraldClientError): void {
    const sub = this.subscription;
    if (!sub?.awaiting) return this.events.emit('error', err);
    clearTimeout(sub.timer);
    sub.awaiting = false;
    if (err.retryable) {
      this.events.emit('error', err);
      return this.abandon(sock, 'subscribe failed');
    }
    this.subscription = undefined;
    if (sub.first) sub.first.reject(err);
    else this.events.emit('error', err);
  }
}

function closedError(): HeraldClientError {
  return new HeraldClientError('HERALD_CLOSED', 'the client was closed', false);
}

async function resolveSource<T>(source: Source<T>): Promise<T> {
  return typeof source === 'function' ? (source as () => T | Promise<T>)() : source;
}

function withToken(url: string, token: string): string {
  const u = new URL(url);
  u.searchParams.set('token', token);
  return u.toString();
}

function randomId(): string {
  const bytes = new Uint8Array(6);
  const crypto = (globalThis as { crypto?: { getRandomValues(b: Uint8Array): Uint8Array } }).crypto;
  if (crypto) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Closes a socket and waits for its close event, at most CLOSE_WAIT_MS. */
function closeSocket(sock: WebSocketLike): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    const done = () => (clearTimeout(timer), resolve());
    if (sock.readyState === 3) return done();
    sock.addEventListener('close', done);
    try {
      sock.close(1000, 'client closed');
    } catch {
      done();
    }
  });
}
