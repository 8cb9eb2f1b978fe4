import type { AddressInfo } from 'node:net';
import PostalMime, { type Email } from 'postal-mime';
import { SMTPServer } from 'smtp-server';

export type SinkMode = 'accept' | 'reject-rcpt' | 'defer-rcpt' | 'hang';

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  raw: string;
  parsed: Email;
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1 that keeps every message it receives, parsed; with `auth` it asks
 * for those credentials. On command it rejects recipients (550), defers them (451) or stalls in DATA.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  mode: SinkMode = 'accept';
  connections = 0;
  /** Messages whose DATA arrived and is held unanswered ('hang'). */
  hanging = 0;
  port = 0;
  #server: SMTPServer;

  private constructor(auth?: { user: string; pass: string }) {
    this.#server = new SMTPServer({
      logger: false,
      hideSTARTTLS: true,
      disabledCommands: ['STARTTLS'],
      authOptional: !auth,
      allowInsecureAuth: true,
      onConnect: (_session, cb) => {
        this.connections++;
        cb();
      },
      onAuth: (a, _session, cb) => {
        if (auth && a.username === auth.user && a.password === auth.pass) return cb(null, { user: a.username });
        cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onRcptTo: (_address, _session, cb) => {
        if (this.mode === 'reject-rcpt') return cb(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 }));
        if (this.mode === 'defer-rcpt') return cb(Object.assign(new Error('4.2.1 Mailbox busy, try later'), { responseCode: 451 }));
        cb();
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (this.mode === 'hang') return void this.hanging++; // never answers the DATA
          const raw = Buffer.concat(chunks).toString('utf8');
          PostalMime.parse(raw).then(
            (parsed) => {
              const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
              this.received.push({ envelope: { from, to: session.envelope.rcptTo.map((r) => r.address) }, raw, parsed });
              cb();
            },
            (err: Error) => cb(err),
          );
        });
      },
    });
  }

  /** Starts a sink on a free port of 127.0.0.1. */
  static async start(auth?: { user: string; pass: string }): Promise<SmtpSink> {
    const sink = new SmtpSink(auth);
    await new Promise<void>((resolve) => sink.#server.listen(0, '127.0.0.1', resolve));
    sink.port = (sink.#server.server.address() as AddressInfo).port;
    return sink;
  }

  /** Stops it, open sessions included. */
  async stop(): Promise<void> {
    for (const c of this.#server.connections) (c as unknown as { close(): void }).close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
