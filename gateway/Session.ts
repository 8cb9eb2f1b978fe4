import type WebSocket from 'ws';
import type { HeraldEvent } from '../core/Event';
import { HeraldError, type ErrorCode } from '../core/HeraldError';
import type { Logger } from '../core/logger';
import type { Principal } from './Auth';
import type { ConnectionRegistry, Subscriber } from './ConnectionRegistry';
import type { HeraldConfig } from '../core/config';
import type { SinceReply } from '../core/nodeProtocol';
import type { Metrics } from './Metrics';
import type { PresenceFeed, PresenceHold } from './PresenceFeed';
import type { Router } from './Router';
import { checkTimeZone, clientSchemas, normalizeEvent, validator, type ClientMessage } from './Schema';
import { TokenBucket } from './TokenBucket';
import { sendMessage } from './NotificationFrame';
import { decodeFrame, encodeFrame, notificationMessage, type Format, type LiveNotification } from './WireCodec';

/** Replay and gap repair read the timeline from the owner in pages of this size. */
const PAGE = 500;
/** A live notification that arrives ahead of a missing one waits this long before the gap is read from the owner. */
const GAP_REPAIR_MS = 50;
/** WebSocket close code for a reader that does not keep up (docs/protocol.md). */
export const CLOSE_SLOW_CONSUMER = 4008;
/** WebSocket close code for a policy violation: the token expired mid-session. */
export const CLOSE_POLICY = 1008;

/** The validators of one gateway, compiled once. */
export function sessionValidators(config: HeraldConfig) {
  const schemas = clientSchemas(config.maxEventsPerPublish);
  // A Map: a plain object would answer ops like "toString" or "__proto__" with its inherited methods.
  return new Map(Object.entries(schemas).map(([op, s]) => [op, validator(s) as (v: unknown) => ClientMessage]));
}

export interface SessionDeps {
  router: Router;
  registry: ConnectionRegistry;
  /** Tells the owning nodes who is subscribed (absent: nodes send every notification, as without presence). */
  presence?: PresenceFeed;
  validators: ReadonlyMap<string, (v: unknown) => ClientMessage>;
  config: HeraldConfig;
  log: Logger;
  metrics?: Metrics;
}

/**
 * One client socket. Decodes and validates each frame, checks what the token allows, and talks to the owning
 * node. A subscription delivers every entry above `since` in offset order, then live ones, with no gap: a live
 * notification that overtakes a missing one waits while the missing range is read from the owner.
 */
export class Session implements Subscriber {
  private liveFormat: Format = 'json';
  private subscribed = false;
  private presence?: PresenceHold;
  /** Live notifications that arrive while the replay is still being read. */
  private replayBuffer: LiveNotification[] | null = null;
  private held = new Map<number, LiveNotification>();
  private repairTimer?: NodeJS.Timeout;
  private repairing = false;
  private lastSent = 0;
  private closed = false;
  private readonly bucket: TokenBucket;
  private expiry?: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly principal: Principal,
    private readonly deps: SessionDeps,
  ) {
    this.bucket = new TokenBucket(deps.config.rateLimitPerSec, deps.config.rateBurst);
    ws.on('message', (data, isBinary) => void this.onFrame(data as Buffer, isBinary));
    ws.on('close', () => this.close());
    // The token was checked at the handshake; when it expires, so does the socket.
    if (principal.exp) {
      const ms = principal.exp * 1000 - Date.now();
      this.expiry = setTimeout(
        () => {
          this.ws.close(CLOSE_POLICY, 'HERALD_TOKEN_EXPIRED' satisfies ErrorCode);
          this.close();
        },
        Math.min(Math.max(ms, 0), 2 ** 31 - 1),
      );
    }
  }

  private async onFrame(data: Buffer, isBinary: boolean): Promise<void> {
    const receivedAt = performance.now();
    let format: Format = isBinary ? 'msgpack' : 'json';
    let id: string | undefined;
    try {
      // Over the rate, the frame is still decoded (bounded by maxPayload) so the refusal names its id.
      const limited = !this.bucket.take();
      const decoded = decodeFrame(data, isBinary);
      format = decoded.format;
      const raw = decoded.msg as { op?: unknown; id?: unknown } | null;
      if (raw && typeof raw === 'object' && typeof raw.id === 'string') id = raw.id.slice(0, 128);
      if (limited) throw new HeraldError('HERALD_RATE_LIMITED', `over ${this.deps.config.rateLimitPerSec} messages/s`);
      if (!raw || typeof raw !== 'object' || Array.isArray(raw) || typeof raw.op !== 'string') {
        throw new HeraldError('HERALD_INVALID_MESSAGE', 'a message is an object with a string op');
      }
      const validate = this.deps.validators.get(raw.op);
      if (!validate) throw new HeraldError('HERALD_UNKNOWN_OP', `unknown op ${raw.op.slice(0, 32)}`);
      await this.handle(validate(raw), format, receivedAt);
    } catch (err) {
      const e = HeraldError.from(err);
      this.deps.metrics?.error('ws', e.code);
      if (e.code === 'HERALD_INTERNAL') this.deps.log.error({ err, user: this.principal.sub }, 'session error');
      this.send({ op: 'error', id, code: e.code, message: e.message }, format);
    }
  }

  private async handle(msg: ClientMessage, format: Format, receivedAt: number): Promise<void> {
    const user = this.principal.sub;
    switch (msg.op) {
      case 'publish': {
        const metrics = this.deps.metrics;
        metrics?.received('ws', msg.events.length);
        let accepted: number;
        try {
          accepted = await this.deps.router.publish(authorizeEvents(this.principal, msg.events as HeraldEvent[]), receivedAt);
        } catch (err) {
          metrics?.rejected('ws', HeraldError.from(err).code, msg.events.length);
          throw err;
        }
        metrics?.acked('ws', accepted);
        this.send({ op: 'ack', id: msg.id, accepted }, format);
        return;
      }
      case 'subscribe':
        return this.subscribe(msg.id, msg.since, msg.epoch, format);
      case 'settings': {
        checkTimeZone(msg.settings?.tz);
        const settings = await this.deps.router.call(user, 'settings', { user, patch: msg.settings });
        this.send({ op: 'settings', id: msg.id, settings }, format);
        return;
      }
      case 'ping':
        this.send({ op: 'pong', id: msg.id }, format);
        return;
      case 'timeline': {
        const page = await this.deps.router.call(user, 'timeline', {
          user,
          before: msg.before,
          limit: msg.limit ?? 20,
        });
        this.send({ op: 'timeline', id: msg.id, items: page.items, next: page.next, unread: page.unread }, format);
        return;
      }
      case 'read': {
        const state = await this.deps.router.call(user, 'read', { user, upTo: msg.upTo });
        this.send({ op: 'ack', id: msg.id, unread: state.unread }, format);
        return;
      }
    }
  }

  /**
   * Registers for live delivery first (buffering), then replays from the owner, so nothing falls between.
   * A resume (`since`) is recovered only if the epoch matches and retention still holds everything above
   * `since`; otherwise the reply says `recovered: false`, nothing is replayed, and the client reloads its
   * timeline: never a silent gap.
   */
  private async subscribe(id: string | undefined, since: number | undefined, epoch: string | undefined, format: Format): Promise<void> {
    if (this.subscribed) throw new HeraldError('HERALD_INVALID_MESSAGE', 'already subscribed');
    this.subscribed = true;
    this.liveFormat = format;
    this.replayBuffer = [];
    this.deps.registry.add(this.principal.sub, this);
    const presence = (this.presence = this.deps.presence?.open(this.principal.sub));
    try {
      // Without `since` there is nothing to replay: ask from the top only for the counters. The read marks the
      // user present on its owner (the mark is set as the owner serves it: actors/node/Presence.ts).
      let first: SinceReply;
      try {
        first = await this.readSince(since ?? Number.MAX_SAFE_INTEGER, presence?.seq);
      } finally {
        presence?.settled();
      }
      const recovered = since === undefined || ((epoch === undefined || epoch === first.epoch) && since >= first.first - 1 && since <= first.offset);
      this.send({ op: 'subscribed', id, offset: first.offset, unread: first.unread, epoch: first.epoch, recovered }, format);
      this.lastSent = recovered && since !== undefined ? since : first.offset;
      if (recovered) await this.sendPages(first);
    } catch (err) {
      this.deps.registry.remove(this.principal.sub, this);
      presence?.closed();
      this.subscribed = false;
      this.replayBuffer = null;
      throw err;
    }
    const buffered = this.replayBuffer;
    this.replayBuffer = null;
    for (const n of buffered) this.push(n);
  }

  private readSince(since: number, presence?: number): Promise<SinceReply> {
    const args = { user: this.principal.sub, since, limit: PAGE };
    return this.deps.router.call(this.principal.sub, 'since', presence === undefined ? args : { ...args, presence });
  }

  /** Sends a page read from the owner and every page after it, in offset order. */
  private async sendPages(page: SinceReply): Promise<void> {
    for (;;) {
      for (const n of page.items) this.sendNotification(n);
      if (page.items.length < PAGE || this.closed) return;
      page = await this.readSince(this.lastSent);
    }
  }

  push(n: LiveNotification): void {
    if (this.closed) return;
    if (this.replayBuffer) {
      this.replayBuffer.push(n);
      return;
    }
    if (n.offset <= this.lastSent) return;
    if (n.offset === this.lastSent + 1 && !this.repairing) {
      this.sendNotification(n);
      this.flushHeld();
      return;
    }
    this.held.set(n.offset, n);
    this.repairTimer ??= setTimeout(() => void this.repairGap(), GAP_REPAIR_MS);
  }

  private flushHeld(): void {
    for (let n = this.held.get(this.lastSent + 1); n; n = this.held.get(this.lastSent + 1)) {
      this.held.delete(n.offset);
      this.sendNotification(n);
    }
    for (const offset of this.held.keys()) if (offset <= this.lastSent) this.held.delete(offset);
  }

  private async repairGap(): Promise<void> {
    this.repairTimer = undefined;
    if (this.held.size === 0 || this.closed) return;
    this.repairing = true;
    try {
      await this.sendPages(await this.readSince(this.lastSent));
    } catch (err) {
      this.deps.log.warn({ err, user: this.principal.sub }, 'gap repair failed; will retry');
      this.repairTimer = setTimeout(() => void this.repairGap(), GAP_REPAIR_MS * 10);
    } finally {
      this.repairing = false;
    }
    this.flushHeld();
  }

  private sendNotification(n: LiveNotification): void {
    if (n.offset <= this.lastSent) return;
    this.lastSent = n.offset;
    this.deps.metrics?.sentOnWs();
    if (!this.writable()) return;
    const message = notificationMessage(n, this.liveFormat);
    if (typeof message === 'string') this.ws.send(message);
    else sendMessage(this.ws, message);
  }

  private send(msg: object, format: Format): void {
    if (this.writable()) this.ws.send(encodeFrame(msg, format));
  }

  /** Open and keeping up; a reader over `maxBufferedBytes` behind is closed as a slow consumer. */
  private writable(): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount > this.deps.config.maxBufferedBytes) {
      this.deps.log.warn({ user: this.principal.sub, buffered: this.ws.bufferedAmount }, 'closing slow consumer');
      this.ws.close(CLOSE_SLOW_CONSUMER, 'HERALD_SLOW_CONSUMER' satisfies ErrorCode);
      this.close();
      return false;
    }
    return true;
  }

  cork(): void {
    (this.ws as unknown as { _socket?: { cork(): void } })._socket?.cork();
  }

  uncork(): void {
    (this.ws as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.repairTimer);
    clearTimeout(this.expiry);
    if (this.subscribed) this.deps.registry.remove(this.principal.sub, this);
    this.presence?.closed();
  }
}

/** A `user` token publishes only as itself; producers and admins publish for anyone. Stamps and checks each event. */
export function authorizeEvents(principal: Principal, events: HeraldEvent[]): HeraldEvent[] {
  const now = Date.now();
  return events.map((e) => {
    if (principal.role === 'user' && e.actor !== principal.sub) {
      throw new HeraldError('HERALD_FORBIDDEN', `a user token may publish only as ${principal.sub}`);
    }
    return normalizeEvent(e, now);
  });
}
