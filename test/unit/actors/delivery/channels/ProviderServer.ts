import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../../../../actors/delivery/channels/WebhookSignature';

/** How the provider answers the next requests. */
export type ProviderMode = 'ok' | 'fail' | 'refuse' | 'limit' | 'hang' | 'timeout408' | 'redirect' | 'echo-to';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** Whether the signature checked out with the provider's secret (requests that fail it answer 401). */
  signed: boolean;
}

/**
 * A real HTTP server on 127.0.0.1 standing in for a push/SMS provider: checks the herald signature, records each
 * request, and on command fails (500), refuses (400), rate-limits (429), hangs, or redirects.
 */
export class ProviderServer {
  readonly requests: ReceivedRequest[] = [];
  mode: ProviderMode = 'ok';
  /** Device tokens the provider no longer knows: a send to one answers 410 Gone, whatever the mode. */
  readonly gone = new Set<string>();
  #server: Server;
  url = '';

  private constructor(readonly secret: string) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const signed = verifyWebhook(this.secret, {
          signature: req.headers['x-herald-signature'] as string | undefined,
          timestamp: req.headers['x-herald-timestamp'] as string | undefined,
          body,
        });
        this.requests.push({ headers: req.headers, body, signed });
        if (!signed) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad signature"}');
        if (this.gone.has(JSON.parse(body).to)) return void res.writeHead(410).end('device token unregistered');
        switch (this.mode) {
          case 'ok':
            return void res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
          case 'fail':
            return void res.writeHead(500).end('upstream exploded');
          case 'refuse':
            return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid device token"}');
          case 'echo-to':
            return void res.writeHead(410).end(`device ${JSON.parse(body).to} is unregistered`);
          case 'limit':
            return void res.writeHead(429, { 'retry-after': '7' }).end('slow down');
          case 'timeout408':
            return void res.writeHead(408).end();
          case 'redirect':
            return void res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end();
          case 'hang':
            return; // never answers
        }
      });
    });
  }

  /** Starts a provider on a free port of 127.0.0.1. */
  static async start(secret: string): Promise<ProviderServer> {
    const p = new ProviderServer(secret);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    p.url = `http://127.0.0.1:${(p.#server.address() as AddressInfo).port}/hooks/notify`;
    return p;
  }

  /** Stops it, hung requests included. */
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
