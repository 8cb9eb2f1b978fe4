import { HeraldError } from '../HeraldError';
import type { PartialLocaleStrings } from '../LocaleStrings';

/** A push or SMS provider's webhook. */
export interface WebhookOptions {
  /** The provider endpoint that receives the POSTs (http or https). */
  url: string;
  /** HMAC-SHA256 key shared with the provider (at least 16 characters). Never logged. */
  secret: string;
  /** Deadline of one POST, answer body included. @defaultValue 5000 */
  timeoutMs?: number;
}

/** The SMTP server of the email channel. */
export interface EmailOptions {
  /** SMTP server host name or address. */
  host: string;
  /** SMTP port. @defaultValue 465 when `secure`, else 587 */
  port?: number;
  /** TLS from the first byte (port 465); when false, STARTTLS is used if the server offers it. @defaultValue false */
  secure?: boolean;
  /** SMTP AUTH user; with `pass`, or neither. */
  user?: string;
  /** SMTP AUTH password. Never logged. */
  pass?: string;
  /** The From header, e.g. `Herald <notifications@example.com>`. */
  from: string;
  /** Deadline of one send, from taking a pooled connection to the server's answer to the message. @defaultValue 15000 */
  timeoutMs?: number;
  /** Most SMTP connections open at once (the pool is shared by every send). @defaultValue 2 */
  maxConnections?: number;
}

export type ResolvedWebhookOptions = Required<WebhookOptions>;
export type ResolvedEmailOptions = EmailOptions & Required<Pick<EmailOptions, 'port' | 'secure' | 'timeoutMs' | 'maxConnections'>>;

/**
 * The outbound channels' settings (the `channels` option). A channel left out is not configured: nothing is sent
 * on it.
 */
export interface ChannelConfig {
  /** Push provider webhook. @defaultValue absent (no push) */
  push?: WebhookOptions;
  /** SMS provider webhook. @defaultValue absent (no SMS) */
  sms?: WebhookOptions;
  /** SMTP server. @defaultValue absent (no email) */
  email?: EmailOptions;
  /** Locale of a recipient whose locale has no strings. @defaultValue 'en' */
  defaultLocale?: string;
  /** Extra locales or overridden strings (docs/channels.md, "Adding a locale"). @defaultValue {} */
  locales?: Record<string, PartialLocaleStrings>;
}

export interface ResolvedChannelConfig {
  push?: ResolvedWebhookOptions;
  sms?: ResolvedWebhookOptions;
  email?: ResolvedEmailOptions;
  defaultLocale: string;
  locales?: Record<string, PartialLocaleStrings>;
}

/** Every default of ChannelConfig in one place. */
export const CHANNEL_DEFAULTS = {
  webhookTimeoutMs: 5_000,
  emailTimeoutMs: 15_000,
  emailMaxConnections: 2,
  defaultLocale: 'en',
} as const;

/** Smallest accepted webhook secret: shorter ones are guessable. */
const MIN_SECRET = 16;

function invalid(path: string, why: string): never {
  throw new HeraldError('HERALD_INVALID_CONFIG', `invalid option channels.${path}: ${why}`);
}

function checkTimeout(path: string, v: unknown): void {
  if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 600_000)) invalid(path, 'must be an integer from 1 to 600000 (ms)');
}

/** A webhook's options with their defaults, validated; `path` names it in the error (`push`, `sms`). */
export function resolveWebhook(path: string, o: WebhookOptions): ResolvedWebhookOptions {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return invalid(`${path}.url`, 'must be an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid(`${path}.url`, 'must be http or https');
  if (typeof o.secret !== 'string' || o.secret.length < MIN_SECRET) invalid(`${path}.secret`, `must be at least ${MIN_SECRET} characters`);
  checkTimeout(`${path}.timeoutMs`, o.timeoutMs);
  return { url: o.url, secret: o.secret, timeoutMs: o.timeoutMs ?? CHANNEL_DEFAULTS.webhookTimeoutMs };
}

/** The SMTP options with their defaults, validated. */
export function resolveEmail(o: EmailOptions): ResolvedEmailOptions {
  if (typeof o.host !== 'string' || o.host.length === 0) invalid('email.host', 'must be a host name');
  const secure = o.secure ?? false;
  if (typeof secure !== 'boolean') invalid('email.secure', 'must be a boolean');
  const port = o.port ?? (secure ? 465 : 587);
  if (!Number.isInteger(port) || port < 1 || port > 65535) invalid('email.port', 'must be a port number');
  if (typeof o.from !== 'string' || !o.from.includes('@')) invalid('email.from', 'must be an address (Name <addr@domain> or addr@domain)');
  if ((o.user === undefined) !== (o.pass === undefined)) invalid('email.user', 'user and pass go together');
  checkTimeout('email.timeoutMs', o.timeoutMs);
  const maxConnections = o.maxConnections ?? CHANNEL_DEFAULTS.emailMaxConnections;
  if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 100) invalid('email.maxConnections', 'must be an integer from 1 to 100');
  return { ...o, port, secure, timeoutMs: o.timeoutMs ?? CHANNEL_DEFAULTS.emailTimeoutMs, maxConnections };
}

/** Fills defaults and validates; throws HERALD_INVALID_CONFIG naming the first bad option, at start rather than at the first send. */
export function resolveChannelConfig(config: ChannelConfig): ResolvedChannelConfig {
  const out: ResolvedChannelConfig = { defaultLocale: config.defaultLocale ?? CHANNEL_DEFAULTS.defaultLocale };
  if (config.push) out.push = resolveWebhook('push', config.push);
  if (config.sms) out.sms = resolveWebhook('sms', config.sms);
  if (config.email) out.email = resolveEmail(config.email);
  if (config.locales) out.locales = config.locales;
  return out;
}
