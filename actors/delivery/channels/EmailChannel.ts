import { createTransport } from 'nodemailer';
import { resolveEmail, type EmailOptions } from '../../../core/config/channels';
import { createLogger, type Logger } from '../../../core/logger';
import { deliveryId, maskRecipient, type Channel, type OutboundMessage } from './Channel';
import { ChannelError, type ChannelErrorCode } from './ChannelError';
import { Deadline } from './Deadline';
import type { Templates } from './Templates';
import { DELIVERY_HEADER } from './WebhookSignature';

export interface EmailDeps {
  templates: Templates;
  /** @defaultValue a pino logger named channel.email */
  logger?: Logger;
}

/**
 * Email over SMTP with nodemailer: one pooled transport for the life of the channel (connections are reused across
 * sends), subject, text and HTML from the templates, a per-send deadline, and a Message-ID made from the delivery
 * id so a retried email is recognisably the same message.
 */
export class EmailChannel implements Channel {
  readonly name = 'email' as const;
  readonly #transport: ReturnType<typeof createTransport>;
  readonly #from: string;
  readonly #domain: string;
  readonly #timeoutMs: number;
  readonly #templates: Templates;
  readonly #logger: Logger;
  #closed = false;

  /** Opens nothing yet: the pool connects on the first send. */
  constructor(given: EmailOptions, deps: EmailDeps) {
    const options = resolveEmail(given);
    this.#timeoutMs = options.timeoutMs;
    this.#from = options.from;
    this.#domain = /@([^\s<>@]+)>?\s*$/.exec(options.from)?.[1] ?? 'herald.invalid';
    this.#templates = deps.templates;
    this.#logger = deps.logger ?? createLogger('channel.email');
    this.#transport = createTransport({
      pool: true,
      host: options.host,
      port: options.port,
      secure: options.secure,
      ...(options.user !== undefined ? { auth: { user: options.user, pass: options.pass ?? '' } } : {}),
      maxConnections: options.maxConnections,
      connectionTimeout: this.#timeoutMs,
      greetingTimeout: this.#timeoutMs,
      // A pooled connection idles between sends: the pool closes it after idleTimeout, before the socket timeout.
      socketTimeout: Math.max(60_000, this.#timeoutMs),
      idleTimeout: 30_000,
      socketCloseTimeout: 1_000,
    });
    // A pooled connection that breaks while idle reports here; the next send opens a new one.
    this.#transport.on('error', (err: Error) => this.#logger.warn({ err: err.message }, 'smtp pool connection error'));
  }

  /** Sends one email; resolves when the SMTP server accepted it for delivery, else rejects with a ChannelError. */
  async send(msg: OutboundMessage, signal?: AbortSignal): Promise<void> {
    const id = deliveryId(msg);
    const fail = (code: ChannelErrorCode, message: string, extra: { status?: number; cause?: unknown } = {}) => {
      this.#logger.warn({ channel: 'email', user: msg.user, to: maskRecipient(msg.to), id, code, status: extra.status }, 'send failed');
      return new ChannelError(code, 'email', `email to ${maskRecipient(msg.to)}: ${message}`, { ...extra, deliveryId: id });
    };
    if (this.#closed) throw fail('HERALD_NOT_SENDABLE', 'channel closed');
    if (msg.channel !== 'email') throw fail('HERALD_NOT_SENDABLE', `message is for channel ${msg.channel}`);
    if (!this.#templates.supports(msg.notification.type)) throw fail('HERALD_NOT_SENDABLE', `no templates for type '${msg.notification.type}'`);

    const locale = this.#templates.resolveLocale(msg.locale);
    const content = this.#templates.email(msg.notification, locale);
    const deadline = new Deadline(this.#timeoutMs, signal);
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: msg.to,
        subject: content.subject,
        text: content.text,
        html: content.html,
        messageId: `<${id}@${this.#domain}>`,
        headers: {
          [DELIVERY_HEADER]: id,
          // RFC 3834: no vacation auto-replies to a notification.
          'Auto-Submitted': 'auto-generated',
          'Content-Language': locale,
        },
        signal: deadline.signal,
      });
      this.#logger.debug({ channel: 'email', user: msg.user, to: maskRecipient(msg.to), id }, 'sent');
    } catch (err) {
      const e = err as { code?: string; responseCode?: number; permanent?: boolean; response?: string; message?: string };
      if (deadline.timedOut) throw fail('HERALD_PROVIDER_TIMEOUT', `no answer within ${this.#timeoutMs} ms`, { cause: err });
      if (deadline.cancelled) throw fail('HERALD_SEND_ABORTED', 'cancelled by the caller', { cause: err });
      const said = (e.response ?? e.message ?? String(err)).split(msg.to).join(maskRecipient(msg.to));
      const status = e.responseCode;
      const extra = { cause: err, ...(status === undefined ? {} : { status }) };
      if (e.code === 'EAUTH' || e.code === 'ENOAUTH' || e.code === 'ECONFIG') throw fail('HERALD_PROVIDER_REJECTED', `${e.code}: ${said}`, extra);
      if (status !== undefined) throw fail(e.permanent ? 'HERALD_PROVIDER_REJECTED' : 'HERALD_PROVIDER_FAILED', said, extra);
      if (e.code === 'ETIMEDOUT') throw fail('HERALD_PROVIDER_TIMEOUT', said, extra);
      if (e.code === 'ECONNECTION' || e.code === 'ESOCKET' || e.code === 'EDNS' || e.code === 'ETLS')
        throw fail('HERALD_PROVIDER_UNREACHABLE', `${e.code}: ${said}`, extra);
      if (e.code === 'EENVELOPE') throw fail('HERALD_PROVIDER_REJECTED', said, extra);
      throw fail('HERALD_PROVIDER_FAILED', `${e.code ?? 'error'}: ${said}`, extra);
    } finally {
      deadline.dispose();
    }
  }

  /** Closes the pool's connections (a message being sent finishes first); later sends fail with HERALD_NOT_SENDABLE. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.close();
  }
}
