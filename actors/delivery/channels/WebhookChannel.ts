import { resolveWebhook, type WebhookOptions } from '../../../core/config/channels';
import { createLogger, type Logger } from '../../../core/logger';
import { deliveryId, maskRecipient, type Channel, type OutboundMessage } from './Channel';
import { ChannelError, type ChannelErrorCode } from './ChannelError';
import { Deadline } from './Deadline';
import { excerpt } from './Excerpt';
import type { Templates } from './Templates';
import { DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook } from './WebhookSignature';

/** The JSON body of a push or SMS webhook (docs/channels.md). Fields without a value are left out. */
export interface WebhookPayload {
  /** The delivery id: the same on every retry of this notification to this address, for the provider to dedupe. */
  id: string;
  channel: 'push' | 'sms';
  /** Device token (push) or phone number (sms). */
  to: string;
  user: string;
  /** The resolved catalogue locale the text is in. */
  locale: string;
  /** Push only. */
  title?: string;
  body: string;
  data: { type: string; offset: number; tweetId?: string; count: number; replaces?: number };
  /** When the notification was made (ms since the epoch). */
  ts: number;
}

export interface WebhookDeps {
  templates: Templates;
  /** @defaultValue a pino logger named after the channel */
  logger?: Logger;
  /** Clock for X-Herald-Timestamp. @defaultValue Date.now */
  now?: () => number;
}

/** Bytes of a provider's error answer kept for the error message. */
const ANSWER_BYTES = 2048;

/**
 * Push or SMS through a provider's HTTP webhook: POSTs the rendered notification as JSON, signed with HMAC-SHA256
 * over the timestamp and the body, within a per-call timeout. The answer's status decides: 2xx sent; 429, 408, 5xx
 * retryable; any other status (a redirect included) rejected for good.
 */
export class WebhookChannel implements Channel {
  readonly name: 'push' | 'sms';
  readonly #url: string;
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #templates: Templates;
  readonly #logger: Logger;
  readonly #now: () => number;
  #closed = false;

  /** One channel per provider endpoint; options are taken as validated (see resolveChannelConfig). */
  constructor(name: 'push' | 'sms', given: WebhookOptions, deps: WebhookDeps) {
    const options = resolveWebhook(name, given);
    this.name = name;
    this.#url = options.url;
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs;
    this.#templates = deps.templates;
    this.#logger = deps.logger ?? createLogger(`channel.${name}`);
    this.#now = deps.now ?? Date.now;
  }

  /** The body this channel POSTs for a message: exposed so tests and docs show the real thing. */
  payload(msg: OutboundMessage): WebhookPayload {
    const n = msg.notification;
    const locale = this.#templates.resolveLocale(msg.locale);
    const content = this.name === 'push' ? this.#templates.push(n, locale) : { title: undefined, ...this.#templates.sms(n, locale) };
    const count = Math.max(Number.isFinite(n.count) ? Math.floor(n.count!) : 0, n.actors.length, 1);
    return {
      id: deliveryId(msg),
      channel: this.name,
      to: msg.to,
      user: msg.user,
      locale,
      ...(content.title === undefined ? {} : { title: content.title }),
      body: content.body,
      data: {
        type: n.type,
        offset: n.offset,
        ...(n.tweetId === undefined ? {} : { tweetId: n.tweetId }),
        count,
        ...(n.replaces === undefined ? {} : { replaces: n.replaces }),
      },
      ts: n.ts,
    };
  }

  /** POSTs one message; resolves on 2xx, else rejects with a ChannelError saying whether to retry. */
  async send(msg: OutboundMessage, signal?: AbortSignal): Promise<void> {
    const id = deliveryId(msg);
    const fail = (code: ChannelErrorCode, message: string, extra: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) => {
      const err = new ChannelError(code, this.name, `${this.name} to ${maskRecipient(msg.to)}: ${message}`, { ...extra, deliveryId: id });
      this.#logger.warn({ channel: this.name, user: msg.user, to: maskRecipient(msg.to), id, code, status: extra.status }, 'send failed');
      return err;
    };
    if (this.#closed) throw fail('HERALD_NOT_SENDABLE', 'channel closed');
    if (msg.channel !== this.name) throw fail('HERALD_NOT_SENDABLE', `message is for channel ${msg.channel}`);
    if (!this.#templates.supports(msg.notification.type)) throw fail('HERALD_NOT_SENDABLE', `no templates for type '${msg.notification.type}'`);

    const body = JSON.stringify(this.payload(msg));
    const timestamp = String(Math.floor(this.#now() / 1000));
    const deadline = new Deadline(this.#timeoutMs, signal);
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'herald-webhook/1',
          [SIGNATURE_HEADER]: signWebhook(this.#secret, timestamp, body),
          [TIMESTAMP_HEADER]: timestamp,
          [DELIVERY_HEADER]: id,
        },
        body,
        redirect: 'manual',
        signal: deadline.signal,
      });
      // Read (a bounded part of) the answer so the connection can be reused; a 2xx stands even if that read fails.
      const answer = await readAnswer(res, msg.to).catch(() => '');
      if (res.ok) {
        this.#logger.debug({ channel: this.name, user: msg.user, to: maskRecipient(msg.to), id, status: res.status }, 'sent');
        return;
      }
      const status = res.status;
      const said = `provider answered ${status}${answer ? `: ${answer}` : ''}`;
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.#now());
      const extra = { status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
      if (status === 429) throw fail('HERALD_PROVIDER_RATE_LIMITED', said, extra);
      if (status >= 500 || status === 408) throw fail('HERALD_PROVIDER_FAILED', said, extra);
      throw fail('HERALD_PROVIDER_REJECTED', said, extra);
    } catch (err) {
      if (err instanceof ChannelError) throw err;
      if (deadline.timedOut) throw fail('HERALD_PROVIDER_TIMEOUT', `no answer within ${this.#timeoutMs} ms`, { cause: err });
      if (deadline.cancelled) throw fail('HERALD_SEND_ABORTED', 'cancelled by the caller', { cause: err });
      throw fail('HERALD_PROVIDER_UNREACHABLE', `cannot reach the provider (${networkCode(err)})`, { cause: err });
    } finally {
      deadline.dispose();
    }
  }

  /** Nothing to release (fetch keeps its own connection pool); later sends fail with HERALD_NOT_SENDABLE. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** The first bytes of the answer, flat, with the recipient masked (a provider may echo the token back). */
async function readAnswer(res: Response, to: string): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ANSWER_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (size >= ANSWER_BYTES) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const text = Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8');
  return excerpt(to.length >= 4 ? text.split(to).join(maskRecipient(to)) : text, 200);
}

/** Retry-After as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET...: fetch hides it in `cause`. */
function networkCode(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return String((err as Error | undefined)?.message ?? err);
}
