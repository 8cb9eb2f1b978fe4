import { decode, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { waitFor } from './waitFor';

type Msg = Record<string, any>;

/**
 * A ws client for tests: keeps every message it received and waits for one matching a predicate. Speaks JSON
 * text frames, or msgpack binary frames with `binary: true`.
 */
export class TestClient {
  readonly received: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  closed?: { code: number; reason: string };

  private constructor(
    readonly ws: WebSocket,
    private readonly binary: boolean,
  ) {
    ws.on('message', (data, isBinary) => {
      const msg = (isBinary ? decode(data as Buffer) : JSON.parse(data.toString())) as Msg;
      this.received.push(msg);
      this.waiters = this.waiters.filter((w) => (w.pred(msg) ? (w.resolve(msg), false) : true));
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  /**
   * Opens a socket. A refused upgrade rejects with `.status` (the HTTP status) and `.body` (the parsed JSON body,
   * when there is one). `origin` sets the Origin header; `headers` adds any other header.
   */
  static connect(
    url: string,
    token: string | undefined,
    opts: { binary?: boolean; viaHeader?: boolean; origin?: string; headers?: Record<string, string> } = {},
  ): Promise<TestClient> {
    const target = token && !opts.viaHeader ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url;
    const headers: Record<string, string> = { ...opts.headers };
    if (token && opts.viaHeader) headers.authorization = `Bearer ${token}`;
    const ws = new WebSocket(target, { headers, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) });
    return new Promise((resolve, reject) => {
      let refused = false;
      ws.once('open', () => resolve(new TestClient(ws, !!opts.binary)));
      ws.once('unexpected-response', (req, res) => {
        refused = true;
        const chunks: Buffer[] = [];
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          const text = Buffer.concat(chunks).toString();
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          req.destroy();
          reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body }));
        };
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', finish);
        res.once('close', finish);
        res.once('error', finish);
      });
      ws.once('error', (err) => {
        if (!refused) reject(err);
      });
    });
  }

  send(msg: Msg): void {
    this.ws.send(this.binary ? Buffer.from(encode(msg)) : JSON.stringify(msg));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The first message (already received or still to come) matching `pred`. */
  waitFor(pred: (m: Msg) => boolean, timeoutMs = 10_000): Promise<Msg> {
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const what = `a message matching ${pred.toString()}`;
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(this.received).slice(-2000)}`)),
        timeoutMs,
      );
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** Sends a request with an id and waits for the reply (ack, error or the op's own answer) with that id. */
  request(msg: Msg, timeoutMs?: number): Promise<Msg> {
    this.send(msg);
    return this.waitFor((m) => m.id === msg.id, timeoutMs);
  }

  notifications(): Msg[] {
    return this.received.filter((m) => m.op === 'notification').map((m) => m.notification);
  }

  /** Waits until `n` notifications have arrived. */
  waitNotifications(n: number, timeoutMs = 10_000): Promise<Msg[]> {
    return waitFor(
      `${n} notifications`,
      () => this.notifications(),
      (got) => got.length >= n,
      timeoutMs,
    );
  }

  close(): void {
    this.ws.terminate();
  }
}
