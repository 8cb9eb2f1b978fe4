import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliveryId } from '../../../../../actors/delivery/channels/Channel';
import { ChannelError } from '../../../../../actors/delivery/channels/ChannelError';
import { Templates } from '../../../../../actors/delivery/channels/Templates';
import { WebhookChannel, parseRetryAfter, type WebhookPayload } from '../../../../../actors/delivery/channels/WebhookChannel';
import { signWebhook, verifyWebhook } from '../../../../../actors/delivery/channels/WebhookSignature';
import { SECRET, TOKEN, capturedLogger, message, notification } from './fixtures';
import { ProviderServer } from './ProviderServer';
import { waitFor } from '../../../../support/waitFor';

const templates = new Templates();

/** Runs `p`, expecting a ChannelError; returns it. */
async function rejection(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ChannelError);
    return err as ChannelError;
  }
  throw new Error('expected the send to fail');
}

describe('WebhookChannel', () => {
  let provider: ProviderServer;
  let log: ReturnType<typeof capturedLogger>;
  let push: WebhookChannel;
  let sms: WebhookChannel;

  beforeAll(async () => {
    provider = await ProviderServer.start(SECRET);
  });
  afterAll(async () => {
    await provider.stop();
  });
  afterEach(() => {
    provider.mode = 'ok';
    provider.requests.length = 0;
  });

  const make = (timeoutMs = 300) => {
    log = capturedLogger();
    push = new WebhookChannel('push', { url: provider.url, secret: SECRET, timeoutMs }, { templates, logger: log.logger });
    sms = new WebhookChannel('sms', { url: provider.url, secret: SECRET, timeoutMs }, { templates, logger: log.logger });
  };

  it('POSTs the documented push payload, signed over timestamp.body', async () => {
    make();
    const msg = message('push', {
      notification: notification({ actors: ['alice', 'carol'], count: 4, replaces: 90 }),
    });
    await push.send(msg);
    expect(provider.requests).toHaveLength(1);
    const req = provider.requests[0];
    expect(req.signed).toBe(true);
    expect(req.headers['content-type']).toBe('application/json');
    // The provider's own check, written from the docs alone.
    const ts = req.headers['x-herald-timestamp'] as string;
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(`${ts}.${req.body}`).digest('hex');
    expect(req.headers['x-herald-signature']).toBe(expected);
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(5);

    const body = JSON.parse(req.body) as WebhookPayload;
    expect(body).toEqual({
      id: deliveryId(msg),
      channel: 'push',
      to: TOKEN,
      user: 'bob',
      locale: 'en',
      title: 'New like',
      body: 'alice and 3 others liked your tweet: “Shipping herald today 🚀 — notifications for everyone”',
      data: { type: 'like', offset: msg.notification.offset, tweetId: 'tw42', count: 4, replaces: 90 },
      ts: msg.notification.ts,
    });
    expect(req.headers['x-herald-delivery']).toBe(body.id);
  });

  it('gives a retry the same delivery id, another recipient or notification another', async () => {
    make();
    const msg = message('push');
    await push.send(msg);
    await push.send(msg);
    await push.send({ ...msg, to: 'another-device-token-xyz' });
    await push.send({ ...msg, notification: { ...msg.notification, offset: msg.notification.offset + 1 } });
    const ids = provider.requests.map((r) => (JSON.parse(r.body) as WebhookPayload).id);
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[1]).toBe(ids[0]);
    expect(new Set(ids).size).toBe(3);
  });

  it('sends SMS as one short line without a title, in the recipient locale', async () => {
    make();
    const long = 'Un très long tweet '.repeat(30);
    await sms.send(message('sms', { to: '+33612345678', locale: 'fr-FR', notification: notification({ type: 'reply', actors: ['zoé'], text: long }) }));
    const body = JSON.parse(provider.requests[0].body) as WebhookPayload;
    expect(body.title).toBeUndefined();
    expect(body.channel).toBe('sms');
    expect(body.locale).toBe('fr');
    expect(body.body.startsWith('zoé a répondu à votre tweet : « Un très long tweet')).toBe(true);
    expect(body.body).not.toMatch(/\n/);
    expect([...body.body].length).toBeLessThanOrEqual(160);
  });

  it('500 → HERALD_PROVIDER_FAILED, retryable', async () => {
    make();
    provider.mode = 'fail';
    const err = await rejection(push.send(message('push')));
    expect(err.code).toBe('HERALD_PROVIDER_FAILED');
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(500);
    expect(err.channel).toBe('push');
    expect(err.message).toContain('upstream exploded');
  });

  it('400 → HERALD_PROVIDER_REJECTED, not retryable', async () => {
    make();
    provider.mode = 'refuse';
    const err = await rejection(push.send(message('push')));
    expect(err.code).toBe('HERALD_PROVIDER_REJECTED');
    expect(err.retryable).toBe(false);
    expect(err.status).toBe(400);
    expect(err.message).toContain('invalid device token');
  });

  it('429 → HERALD_PROVIDER_RATE_LIMITED, retryable, with Retry-After', async () => {
    make();
    provider.mode = 'limit';
    const err = await rejection(push.send(message('push')));
    expect(err.code).toBe('HERALD_PROVIDER_RATE_LIMITED');
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBe(7000);
    expect(err.toJSON()).toMatchObject({ code: 'HERALD_PROVIDER_RATE_LIMITED', retryable: true, retryAfterMs: 7000, channel: 'push' });
  });

  it('408 → retryable; a redirect is not followed and not retryable', async () => {
    make();
    provider.mode = 'timeout408';
    expect((await rejection(push.send(message('push')))).retryable).toBe(true);
    provider.mode = 'redirect';
    const err = await rejection(push.send(message('push')));
    expect(err.code).toBe('HERALD_PROVIDER_REJECTED');
    expect(err.status).toBe(302);
    expect(provider.requests).toHaveLength(2);
  });

  it('a hanging provider → HERALD_PROVIDER_TIMEOUT after timeoutMs, retryable', async () => {
    make(300);
    provider.mode = 'hang';
    const t0 = Date.now();
    const err = await rejection(push.send(message('push')));
    const took = Date.now() - t0;
    expect(err.code).toBe('HERALD_PROVIDER_TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(2000);
  });

  it("the caller's signal → HERALD_SEND_ABORTED, retryable", async () => {
    make(5_000);
    provider.mode = 'hang';
    const ac = new AbortController();
    const asked = provider.requests.length;
    const sending = rejection(push.send(message('push'), ac.signal));
    // Aborted mid-send: once the provider holds the request unanswered.
    await waitFor('the request held by the provider', () => provider.requests.length > asked);
    ac.abort();
    const err = await sending;
    expect(err.code).toBe('HERALD_SEND_ABORTED');
    expect(err.retryable).toBe(true);
    // Already aborted: not even sent.
    const before = provider.requests.length;
    const err2 = await rejection(push.send(message('push'), AbortSignal.abort()));
    expect(err2.code).toBe('HERALD_SEND_ABORTED');
    expect(provider.requests.length).toBe(before);
  });

  it('no provider listening → HERALD_PROVIDER_UNREACHABLE, retryable', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const ch = new WebhookChannel('push', { url: `http://127.0.0.1:${free}/x`, secret: SECRET }, { templates, logger: capturedLogger().logger });
    const err = await rejection(ch.send(message('push')));
    expect(err.code).toBe('HERALD_PROVIDER_UNREACHABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('a wrong secret is refused by the provider (401, not retryable)', async () => {
    const ch = new WebhookChannel('push', { url: provider.url, secret: 'not-the-right-secret-at-all' }, { templates, logger: capturedLogger().logger });
    const err = await rejection(ch.send(message('push')));
    expect(provider.requests[0].signed).toBe(false);
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
  });

  it('a type without templates, a message for another channel, a closed channel: HERALD_NOT_SENDABLE', async () => {
    make();
    expect((await rejection(push.send(message('push', { notification: notification({ type: 'unfollow' }) })))).code).toBe('HERALD_NOT_SENDABLE');
    expect((await rejection(push.send(message('sms')))).code).toBe('HERALD_NOT_SENDABLE');
    await push.close();
    const err = await rejection(push.send(message('push')));
    expect(err.code).toBe('HERALD_NOT_SENDABLE');
    expect(err.retryable).toBe(false);
    expect(provider.requests).toHaveLength(0);
  });

  it('never logs or reports the secret or the whole token, even when the provider echoes it', async () => {
    make();
    await push.send(message('push'));
    provider.mode = 'echo-to';
    const err = await rejection(push.send(message('push')));
    expect(err.status).toBe(410);
    expect(err.message).toContain('is unregistered');
    expect(err.message).not.toContain(TOKEN);
    expect(err.message).toContain(TOKEN.slice(-4));
    const all = log.lines.join('');
    expect(log.lines.length).toBeGreaterThanOrEqual(2);
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(SECRET);
    expect(JSON.stringify(err.toJSON())).not.toContain(TOKEN);
  });
});

describe('webhook signature', () => {
  const body = '{"id":"x"}';
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);

  it('verifies a fresh, untouched request', () => {
    expect(verifyWebhook(SECRET, { signature: signWebhook(SECRET, ts, body), timestamp: ts, body }, 300, now)).toBe(true);
  });

  it('refuses a tampered body, a moved timestamp, a replay after the tolerance, a wrong secret, a missing header', () => {
    const signature = signWebhook(SECRET, ts, body);
    expect(verifyWebhook(SECRET, { signature, timestamp: ts, body: '{"id":"y"}' }, 300, now)).toBe(false);
    expect(verifyWebhook(SECRET, { signature, timestamp: String(Number(ts) + 1), body }, 300, now)).toBe(false);
    expect(verifyWebhook(SECRET, { signature, timestamp: ts, body }, 300, now + 301_000)).toBe(false);
    expect(verifyWebhook('another-secret-of-some-length', { signature, timestamp: ts, body }, 300, now)).toBe(false);
    expect(verifyWebhook(SECRET, { signature: undefined, timestamp: ts, body }, 300, now)).toBe(false);
    expect(verifyWebhook(SECRET, { signature, timestamp: 'soon', body }, 300, now)).toBe(false);
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(parseRetryAfter('12', now)).toBe(12_000);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter('whenever', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
