import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliveryId } from '../../../../../actors/delivery/channels/Channel';
import { ChannelError } from '../../../../../actors/delivery/channels/ChannelError';
import { EmailChannel } from '../../../../../actors/delivery/channels/EmailChannel';
import type { EmailOptions } from '../../../../../core/config';
import { Templates } from '../../../../../actors/delivery/channels/Templates';
import { capturedLogger, message, notification } from './fixtures';
import { SmtpSink } from './SmtpSink';
import { waitFor } from '../../../../support/waitFor';

const templates = new Templates();
const FROM = 'Herald <notify@herald.test>';
const TO = 'bob@example.org';

async function rejection(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ChannelError);
    return err as ChannelError;
  }
  throw new Error('expected the send to fail');
}

describe('EmailChannel', () => {
  let sink: SmtpSink;
  const open: EmailChannel[] = [];
  let log: ReturnType<typeof capturedLogger>;

  const make = (extra: Partial<EmailOptions> = {}) => {
    log = capturedLogger();
    const ch = new EmailChannel(
      { host: '127.0.0.1', port: sink.port, secure: false, from: FROM, timeoutMs: 2_000, ...extra },
      { templates, logger: log.logger },
    );
    open.push(ch);
    return ch;
  };

  beforeAll(async () => {
    sink = await SmtpSink.start();
  });
  afterAll(async () => {
    await sink.stop();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    sink.mode = 'accept';
    sink.received.length = 0;
    sink.connections = 0;
  });

  it('delivers subject, text and HTML from the templates, from the configured sender, to the address', async () => {
    const email = make();
    const msg = message('email', {
      to: TO,
      locale: 'fr',
      notification: notification({ actors: ['alice', '<b>mallory</b>'], count: 4, text: 'Café & croissants <script>alert(1)</script> 🥐' }),
    });
    await email.send(msg);
    expect(sink.received).toHaveLength(1);
    const { envelope, parsed } = sink.received[0];
    expect(envelope).toEqual({ from: 'notify@herald.test', to: [TO] });
    expect(parsed.from).toMatchObject({ name: 'Herald', address: 'notify@herald.test' });
    expect(parsed.to).toEqual([expect.objectContaining({ address: TO })]);
    expect(parsed.subject).toBe('alice et 3 autres ont aimé votre tweet');
    expect(parsed.text).toContain('alice et 3 autres ont aimé votre tweet');
    expect(parsed.text).toContain('« Café & croissants <script>alert(1)</script> 🥐 »');
    expect(parsed.text).toContain('paramètres de notification');
    expect(parsed.html).toContain('<strong>alice et 3 autres ont aimé votre tweet</strong>');
    expect(parsed.html).toContain('Café &#38; croissants &#60;script&#62;alert(1)&#60;/script&#62; 🥐');
    expect(parsed.html).not.toContain('<script>');
    expect(parsed.html).toContain('lang="fr"');
    expect(parsed.messageId).toBe(`<${deliveryId(msg)}@herald.test>`);
    const header = (name: string) => parsed.headers.find((h) => h.key === name)?.value;
    expect(header('x-herald-delivery')).toBe(deliveryId(msg));
    expect(header('auto-submitted')).toBe('auto-generated');
    expect(header('content-language')).toBe('fr');
  });

  it('reuses one pooled connection across sends', async () => {
    const email = make({ maxConnections: 1 });
    for (let i = 0; i < 3; i++) await email.send(message('email', { to: TO }));
    await Promise.all([1, 2, 3].map(() => email.send(message('email', { to: TO }))));
    expect(sink.received).toHaveLength(6);
    expect(sink.connections).toBe(1);
  });

  it('logs in with the configured user and password; bad credentials → REJECTED, not retryable', async () => {
    const authSink = await SmtpSink.start({ user: 'herald', pass: 's3cret-pass' });
    try {
      const good = new EmailChannel(
        { host: '127.0.0.1', port: authSink.port, from: FROM, user: 'herald', pass: 's3cret-pass', timeoutMs: 2_000 },
        { templates, logger: capturedLogger().logger },
      );
      open.push(good);
      await good.send(message('email', { to: TO }));
      expect(authSink.received).toHaveLength(1);
      const bad = new EmailChannel(
        { host: '127.0.0.1', port: authSink.port, from: FROM, user: 'herald', pass: 'wrong', timeoutMs: 2_000 },
        { templates, logger: capturedLogger().logger },
      );
      open.push(bad);
      const err = await rejection(bad.send(message('email', { to: TO })));
      expect(err.code).toBe('HERALD_PROVIDER_REJECTED');
      expect(err.retryable).toBe(false);
      expect(err.status).toBe(535);
    } finally {
      await Promise.all(open.splice(0).map((c) => c.close()));
      await authSink.stop();
    }
  });

  it('550 recipient → REJECTED, not retryable; the address is masked in the error', async () => {
    const email = make();
    sink.mode = 'reject-rcpt';
    const err = await rejection(email.send(message('email', { to: TO })));
    expect(err.code).toBe('HERALD_PROVIDER_REJECTED');
    expect(err.retryable).toBe(false);
    expect(err.status).toBe(550);
    expect(err.message).not.toContain(TO);
    expect(log.lines.join('')).not.toContain(TO);
  });

  it('451 recipient → FAILED, retryable', async () => {
    const email = make();
    sink.mode = 'defer-rcpt';
    const err = await rejection(email.send(message('email', { to: TO })));
    expect(err.code).toBe('HERALD_PROVIDER_FAILED');
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(451);
  });

  it('a server that stalls → TIMEOUT after timeoutMs, retryable; the channel still works afterwards', async () => {
    const email = make({ timeoutMs: 400 });
    sink.mode = 'hang';
    const t0 = Date.now();
    const err = await rejection(email.send(message('email', { to: TO })));
    expect(err.code).toBe('HERALD_PROVIDER_TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3_000);
    sink.mode = 'accept';
    await email.send(message('email', { to: TO }));
    expect(sink.received).toHaveLength(1);
  });

  it("the caller's signal → SEND_ABORTED, retryable", async () => {
    const email = make({ timeoutMs: 5_000 });
    sink.mode = 'hang';
    const ac = new AbortController();
    const sending = rejection(email.send(message('email', { to: TO }), ac.signal));
    // Aborted mid-send: once the server holds the message unanswered.
    await waitFor('the message held by the server', () => sink.hanging === 1);
    ac.abort();
    const err = await sending;
    expect(err.code).toBe('HERALD_SEND_ABORTED');
    expect(err.retryable).toBe(true);
  });

  it('no server → UNREACHABLE, retryable', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const email = make({ port: free });
    const err = await rejection(email.send(message('email', { to: TO })));
    expect(err.code).toBe('HERALD_PROVIDER_UNREACHABLE');
    expect(err.retryable).toBe(true);
  });

  it('after close, sends fail with NOT_SENDABLE', async () => {
    const email = make();
    await email.close();
    expect((await rejection(email.send(message('email', { to: TO })))).code).toBe('HERALD_NOT_SENDABLE');
  });
});
