import { HeraldError } from '../../../core/HeraldError';
import type { Logger } from '../../../core/logger';
import type { Channel, ChannelName } from './Channel';
import { EmailChannel, type EmailOptions } from './EmailChannel';
import type { PartialLocaleStrings } from './Locales';
import { Templates } from './Templates';
import { WebhookChannel, type WebhookOptions } from './WebhookChannel';

/**
 * The outbound channels' settings. A channel left out is not configured: `channelsFrom` does not make it, and
 * nothing is sent on it.
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
  throw new HeraldError('HERALD_INVALID_MESSAGE', `invalid option channels.${path}: ${why}`);
}

function checkTimeout(path: string, v: unknown): void {
  if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 600_000)) invalid(path, 'must be an integer from 1 to 600000 (ms)');
}

function resolveWebhook(path: string, o: WebhookOptions): Required<WebhookOptions> {
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

function resolveEmail(o: EmailOptions): EmailOptions & Required<Pick<EmailOptions, 'port' | 'secure' | 'timeoutMs' | 'maxConnections'>> {
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

/** Fills defaults and validates; throws HERALD_INVALID_MESSAGE naming the first bad option, at start rather than at the first send. */
export function resolveChannelConfig(config: ChannelConfig): ChannelConfig & { defaultLocale: string } {
  const out: ChannelConfig & { defaultLocale: string } = { defaultLocale: config.defaultLocale ?? CHANNEL_DEFAULTS.defaultLocale };
  if (config.push) out.push = resolveWebhook('push', config.push);
  if (config.sms) out.sms = resolveWebhook('sms', config.sms);
  if (config.email) out.email = resolveEmail(config.email);
  if (config.locales) out.locales = config.locales;
  return out;
}

export interface ChannelDeps {
  /** Shared templates. @defaultValue new Templates({ defaultLocale, locales }) from the config */
  templates?: Templates;
  /** Parent logger; each channel logs through a child named after it. @defaultValue one pino logger per channel */
  logger?: Logger;
}

/** The configured channels by name, built once at start; a channel without configuration is simply absent. */
export function channelsFrom(config: ChannelConfig, deps: ChannelDeps = {}): Map<ChannelName, Channel> {
  const c = resolveChannelConfig(config);
  let templates: Templates;
  try {
    templates = deps.templates ?? new Templates({ defaultLocale: c.defaultLocale, ...(c.locales ? { locales: c.locales } : {}) });
  } catch (err) {
    return invalid(err instanceof RangeError ? 'locales' : 'defaultLocale', (err as Error).message);
  }
  const logger = (name: string) => deps.logger?.child({ channel: name });
  const channels = new Map<ChannelName, Channel>();
  if (c.push) channels.set('push', new WebhookChannel('push', c.push, { templates, logger: logger('push') }));
  if (c.sms) channels.set('sms', new WebhookChannel('sms', c.sms, { templates, logger: logger('sms') }));
  if (c.email) channels.set('email', new EmailChannel(c.email, { templates, logger: logger('email') }));
  return channels;
}
