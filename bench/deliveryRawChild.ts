import { createTransport } from 'nodemailer';
import { performance } from 'node:perf_hooks';
import { signWebhook } from '../actors/delivery/channels/WebhookSignature';

/**
 * The raw limits of `npm run bench -- delivery`, run in a forked child (one process, as one herald node is):
 *  - http: signed JSON POSTs with global fetch (what WebhookChannel uses), `concurrency` in flight, for `ms`;
 *  - smtp: emails through one pooled nodemailer transport (what EmailChannel uses) with `connections`
 *    connections and `concurrency` sends in flight, for `ms`.
 * Answers `{ done, per_s, n, secs, cpu_ms_per_send }` to its parent over IPC, then exits.
 */
type Job =
  | { kind: 'http'; url: string; secret: string; ms: number; concurrency: number }
  | { kind: 'smtp'; port: number; ms: number; connections: number; concurrency: number };

const text = 'fan-1234 followed you. You get this because you turned on follow notifications; change it in your settings.';

async function http(job: Extract<Job, { kind: 'http' }>): Promise<number> {
  let n = 0;
  let seq = 0;
  const until = performance.now() + job.ms;
  const worker = async () => {
    while (performance.now() < until) {
      const id = (seq++).toString(16).padStart(32, '0');
      const body = JSON.stringify({
        id,
        channel: 'push',
        to: `tok-r-${seq % 200}`,
        user: `r-${seq % 200}`,
        locale: 'en',
        title: 'New follower',
        body: 'fan-1234 followed you',
        data: { type: 'follow', offset: seq, count: 1 },
        ts: Date.now(),
      });
      const ts = String(Math.floor(Date.now() / 1000));
      const res = await fetch(job.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'herald-webhook/1',
          'x-herald-signature': signWebhook(job.secret, ts, body),
          'x-herald-timestamp': ts,
          'x-herald-delivery': id,
        },
        body,
        redirect: 'manual',
      });
      await res.text();
      if (res.ok) n++;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  return n;
}

async function smtp(job: Extract<Job, { kind: 'smtp' }>): Promise<number> {
  const transport = createTransport({ pool: true, host: '127.0.0.1', port: job.port, secure: false, maxConnections: job.connections });
  let n = 0;
  let seq = 0;
  const until = performance.now() + job.ms;
  const worker = async () => {
    while (performance.now() < until) {
      const i = seq++;
      await transport.sendMail({
        from: 'herald bench <noreply@bench.test>',
        to: `r-${i % 200}@bench.test`,
        subject: 'fan-1234 followed you',
        text,
        html: `<p>${text}</p>`,
        messageId: `<${i.toString(16).padStart(32, '0')}@bench.test>`,
        headers: { 'X-Herald-Delivery': i.toString(16), 'Auto-Submitted': 'auto-generated' },
      });
      n++;
    }
  };
  try {
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  } finally {
    transport.close();
  }
  return n;
}

process.once('message', (job: Job) => {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  (job.kind === 'http' ? http(job) : smtp(job)).then(
    (n) => {
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      // CPU of this (client) process per completed send, ms: the provider's CPU is not in it.
      const cpu_ms_per_send = (cpu.user + cpu.system) / 1000 / Math.max(1, n);
      process.send!({ done: true, n, secs, per_s: n / secs, cpu_ms_per_send }, () => process.exit(0));
    },
    (err) => {
      process.send!({ done: false, error: String(err?.stack ?? err) }, () => process.exit(1));
    },
  );
});
