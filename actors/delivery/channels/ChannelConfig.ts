import { resolveChannelConfig, type ChannelConfig } from '../../../core/config/channels';
import { HeraldError } from '../../../core/HeraldError';
import type { Logger } from '../../../core/logger';
import type { Channel, ChannelName } from './Channel';
import { EmailChannel } from './EmailChannel';
import { Templates } from './Templates';
import { WebhookChannel } from './WebhookChannel';

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
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `invalid option channels.${err instanceof RangeError ? 'locales' : 'defaultLocale'}: ${(err as Error).message}`,
    );
  }
  const logger = (name: string) => deps.logger?.child({ channel: name });
  const channels = new Map<ChannelName, Channel>();
  if (c.push) channels.set('push', new WebhookChannel('push', c.push, { templates, logger: logger('push') }));
  if (c.sms) channels.set('sms', new WebhookChannel('sms', c.sms, { templates, logger: logger('sms') }));
  if (c.email) channels.set('email', new EmailChannel(c.email, { templates, logger: logger('email') }));
  return channels;
}
