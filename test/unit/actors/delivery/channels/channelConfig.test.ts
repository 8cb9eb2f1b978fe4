import { describe, expect, it } from 'vitest';
import { channelsFrom } from '../../../../../actors/delivery/channels/ChannelConfig';
import { EmailChannel } from '../../../../../actors/delivery/channels/EmailChannel';
import { WebhookChannel } from '../../../../../actors/delivery/channels/WebhookChannel';
import { CHANNEL_DEFAULTS, resolveChannelConfig } from '../../../../../core/config';
import { HeraldError } from '../../../../../core/HeraldError';
import { SECRET, capturedLogger } from './fixtures';

const push = { url: 'https://push.example.test/hook', secret: SECRET };
const email = { host: 'smtp.example.test', from: 'Herald <notify@example.test>' };

function invalidOption(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).code).toBe('HERALD_INVALID_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('channelsFrom', () => {
  it('makes only the configured channels', async () => {
    const { logger } = capturedLogger();
    expect([...channelsFrom({}).keys()]).toEqual([]);
    const onlyPush = channelsFrom({ push }, { logger });
    expect([...onlyPush.keys()]).toEqual(['push']);
    expect(onlyPush.get('push')).toBeInstanceOf(WebhookChannel);
    const all = channelsFrom({ push, sms: { ...push, timeoutMs: 1_000 }, email, defaultLocale: 'fr' }, { logger });
    expect([...all.keys()].sort()).toEqual(['email', 'push', 'sms']);
    expect(all.get('email')).toBeInstanceOf(EmailChannel);
    for (const [name, ch] of all) expect(ch.name).toBe(name);
    await Promise.all([...all.values()].map((c) => c.close()));
  });

  it('fills defaults', () => {
    const c = resolveChannelConfig({ push, email });
    expect(c.defaultLocale).toBe('en');
    expect(c.push?.timeoutMs).toBe(CHANNEL_DEFAULTS.webhookTimeoutMs);
    expect(c.email).toMatchObject({ port: 587, secure: false, timeoutMs: 15_000, maxConnections: 2 });
    expect(resolveChannelConfig({ email: { ...email, secure: true } }).email?.port).toBe(465);
  });

  it('refuses bad options at once, naming them', () => {
    expect(invalidOption(() => channelsFrom({ push: { ...push, url: 'not a url' } }))).toContain('channels.push.url');
    expect(invalidOption(() => channelsFrom({ sms: { ...push, url: 'ftp://x.test/' } }))).toContain('channels.sms.url');
    expect(invalidOption(() => channelsFrom({ push: { ...push, secret: 'short' } }))).toContain('channels.push.secret');
    expect(invalidOption(() => channelsFrom({ push: { ...push, timeoutMs: 0 } }))).toContain('channels.push.timeoutMs');
    expect(invalidOption(() => channelsFrom({ email: { ...email, host: '' } }))).toContain('channels.email.host');
    expect(invalidOption(() => channelsFrom({ email: { ...email, from: 'nobody' } }))).toContain('channels.email.from');
    expect(invalidOption(() => channelsFrom({ email: { ...email, user: 'u' } }))).toContain('channels.email.user');
    expect(invalidOption(() => channelsFrom({ email: { ...email, port: 70000 } }))).toContain('channels.email.port');
    expect(invalidOption(() => channelsFrom({ push, defaultLocale: 'xx' }))).toContain('channels.defaultLocale');
  });

  it('never puts the secret in an error message', () => {
    const msg = invalidOption(() => channelsFrom({ push: { ...push, url: 'nope' } }));
    expect(msg).not.toContain(SECRET);
  });
});
