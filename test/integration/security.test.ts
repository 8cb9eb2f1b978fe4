import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../scripts/ClusterProcess';
import { ClusterProcess, TestData } from '../support/cluster';
import { TestClient } from '../support/TestClient';
import { waitFor } from '../support/waitFor';

/**
 * Hostile input against one cluster with small limits: every kind of bad input gets its documented code
 * (docs/protocol.md), while a bystander keeps publishing and receiving its own notifications, no process
 * restarts, and no token or secret reaches the logs.
 */
describe('security: bad input gets its documented code, and nobody else notices', () => {
  const data = new TestData();
  let cluster: ClusterProcess;
  let secret: string;
  const clients: TestClient[] = [];
  /** Every token this test sent anywhere: none may show up in the logs. */
  const used: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const ORIGIN = 'https://app.example';
  const LIMITS = { allowedOrigins: [ORIGIN], maxConnectionsPerUser: 3, rateLimitPerSec: 20, rateBurst: 20, maxPayload: 65536 };

  const token = (user: string, role: 'user' | 'producer' | 'admin' = 'user', ttlSec = 3600) => remember(data.token(user, role, ttlSec));
  const remember = (t: string) => (used.push(t), t);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  /** Tokens the gateway must refuse, built by hand. */
  const bad = {
    forged: () => remember(jwt.sign({ role: 'user' }, 'not-the-cluster-secret', { algorithm: 'HS256', subject: 'mallory', expiresIn: 3600 })),
    expired: (user = 'mallory') => remember(jwt.sign({ role: 'user', sub: user, exp: Math.floor(Date.now() / 1000) - 60 }, secret, { algorithm: 'HS256' })),
    algNone: (user = 'mallory', role = 'admin') =>
      remember(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user, role, exp: Math.floor(Date.now() / 1000) + 3600 })}.`),
    badRole: () => remember(jwt.sign({ role: 'root' }, secret, { algorithm: 'HS256', subject: 'mallory', expiresIn: 3600 })),
    noSub: () => remember(jwt.sign({ role: 'admin' }, secret, { algorithm: 'HS256', expiresIn: 3600 })),
    hs512: () => remember(jwt.sign({ role: 'admin' }, secret, { algorithm: 'HS512', subject: 'mallory', expiresIn: 3600 })),
  };

  const connect = async (user: string, opts: { role?: 'user' | 'producer' | 'admin'; binary?: boolean; origin?: string } = {}) => {
    const c = await TestClient.connect(cluster.info.ws, token(user, opts.role ?? 'user'), { binary: opts.binary, origin: opts.origin });
    clients.push(c);
    return c;
  };
  /** The HTTP status (and JSON body) a refused upgrade answered with; fails if the upgrade succeeded. */
  const refusedUpgrade = async (url: string, tok: string | undefined, opts: Parameters<typeof TestClient.connect>[2] = {}) => {
    if (tok) used.push(tok);
    try {
      const c = await TestClient.connect(url, tok, opts);
      c.close();
    } catch (err) {
      const e = err as { status?: number; body?: any; message: string };
      return { status: e.status, code: e.body?.code as string | undefined };
    }
    throw new Error('upgrade was accepted');
  };

  /** Sends one frame on a socket used only for this, paced under the rate limit, and returns the next message. */
  const nextReply = async (c: TestClient, frame: string | Buffer | object) => {
    await sleep(60); // pacing: one frame per 60 ms stays under rateLimitPerSec (20), not a wait for a condition
    const n = c.received.length;
    if (typeof frame === 'string' || Buffer.isBuffer(frame)) c.sendRaw(frame);
    else c.send(frame);
    const what = `a reply to ${String(JSON.stringify(frame)).slice(0, 200)}`;
    await waitFor(what, () => {
      if (c.closed) throw new Error(`closed: ${JSON.stringify(c.closed)}`);
      return c.received.length > n;
    });
    return c.received[n];
  };
  const expectWsError = async (c: TestClient, frame: string | Buffer | object, code: string) => {
    const reply = await nextReply(c, frame);
    expect(reply, `reply to ${String(JSON.stringify(frame)).slice(0, 300)}`).toMatchObject({ op: 'error', code });
    return reply;
  };
  const waitClosed = (c: TestClient, ms = 5000) => waitFor('the socket closed by the gateway', () => c.closed, ms);

  type HttpAnswer = { status: number; body: any };
  /** One HTTP request with exactly these headers (node:http, so content-type and chunking stay under control). */
  const http = (
    method: string,
    path: string,
    opts: { token?: string; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean } = {},
  ): Promise<HttpAnswer> => {
    if (opts.token) used.push(opts.token);
    const url = new URL(path, cluster.info.http);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined && !opts.chunked && !('content-length' in headers)) headers['content-length'] = String(Buffer.byteLength(opts.body));
    return new Promise((resolve, reject) => {
      let answered = false;
      // agent: false: one connection per request, so a refused body never leaks into the next request.
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent: false }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: any = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      // The server may answer (413) and hang up while the body is still going: only a missing answer is an error.
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      if (opts.body === undefined) req.end();
      else if (opts.chunked) {
        const body = Buffer.from(opts.body);
        for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
        req.end();
      } else req.end(opts.body);
    });
  };
  const expectHttp = async (answer: Promise<HttpAnswer>, status: number, code?: string) => {
    const a = await answer;
    expect(a.status, JSON.stringify(a.body)).toBe(status);
    if (code) expect(a.body).toMatchObject({ code });
    return a;
  };

  const follow = (actor: string, target: string, id = `f-${actor}-${target}-${Math.random().toString(36).slice(2)}`) => ({
    id,
    type: 'follow',
    actor,
    target,
  });
  const publish = (events: unknown[], id = 'p1') => ({ op: 'publish', id, events });

  // The bystander: a producer socket of user "bystander" that publishes follows of itself every 100 ms and is
  // subscribed to its own timeline. Every publish must be acked and every notification must arrive, in order.
  const bystander = { acked: [] as string[], errors: [] as string[], stop: false, loop: Promise.resolve() };
  let by: TestClient;

  beforeAll(async () => {
    const config = join(data.dir, 'security-config.json');
    writeFileSync(config, JSON.stringify(LIMITS));
    // debug: the log scan at the end then covers everything the cluster can say.
    cluster = await ClusterProcess.start(['--data', data.dir, '--port', '0', '--config', config], { env: { HERALD_LOG_LEVEL: 'debug' } });
    secret = readFileSync(join(data.dir, 'secret'), 'utf8').trim();
    by = await connect('bystander', { role: 'producer' });
    by.send({ op: 'subscribe' });
    await by.waitFor((m) => m.op === 'subscribed');
    bystander.loop = (async () => {
      for (let i = 0; !bystander.stop; i++) {
        const id = `by-${i}`;
        try {
          const r = await by.request(publish([{ id, type: 'follow', actor: `fan${i}`, target: 'bystander' }], id));
          if (r.op === 'ack' && r.accepted === 1) bystander.acked.push(id);
          else bystander.errors.push(JSON.stringify(r));
        } catch (err) {
          bystander.errors.push(String(err));
        }
        await sleep(100); // the bystander's steady pace (a publish per 100 ms) for as long as the suite runs
      }
    })();
  });

  afterAll(async () => {
    bystander.stop = true;
    await bystander.loop;
    for (const c of clients) c.close();
    await cluster?.stop();
    data.remove();
  });

  // ---------------------------------------------------------------- WebSocket frames

  it('oversize WebSocket frame: socket closed with 1009', async () => {
    const c = await connect('big');
    c.sendRaw('x'.repeat(LIMITS.maxPayload + 1));
    expect((await waitClosed(c))?.code).toBe(1009);
  });

  it('text frame that is not UTF-8: socket closed with 1007 (RFC 6455)', async () => {
    const c = await connect('utf');
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await waitClosed(c))?.code).toBe(1007);
  });

  it('truncated and invalid msgpack: HERALD_BAD_FRAME', async () => {
    const c = await connect('mp', { binary: true });
    const valid = Buffer.from(encode(publish([follow('mp', 'zed')])));
    await expectWsError(c, valid.subarray(0, valid.length - 5), 'HERALD_BAD_FRAME');
    await expectWsError(c, valid.subarray(0, 1), 'HERALD_BAD_FRAME');
    await expectWsError(c, Buffer.from([0xc1]), 'HERALD_BAD_FRAME'); // 0xc1: never used
    await expectWsError(c, Buffer.concat([valid, Buffer.from([0x00])]), 'HERALD_BAD_FRAME'); // trailing bytes
    await expectWsError(c, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), 'HERALD_BAD_FRAME'); // array of 4G items, none sent
    await expectWsError(c, Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61]), 'HERALD_BAD_FRAME'); // str32 of 2 GB, 1 byte sent
    // The reply of a binary frame is msgpack: TestClient decoded it, so it was.
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it('invalid JSON: HERALD_BAD_FRAME', async () => {
    const c = await connect('js');
    for (const frame of ['{"op":"publish"', '{op:"subscribe"}', "{'op':'subscribe'}", '', 'undefined', '{"op":"subscribe"}}', '\u0000']) {
      await expectWsError(c, frame, 'HERALD_BAD_FRAME');
    }
  });

  it('non-object messages (array, number, null, string, boolean): HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('nonobj');
    for (const frame of ['[]', '[{"op":"subscribe"}]', '42', 'null', '"subscribe"', 'true']) await expectWsError(c, frame, 'HERALD_INVALID_MESSAGE');
    const m = await connect('nonobj', { binary: true });
    for (const v of [[1, 2], 7, null, 'x']) await expectWsError(m, Buffer.from(encode(v)), 'HERALD_INVALID_MESSAGE');
  });

  it('missing or non-string op: HERALD_INVALID_MESSAGE; unknown op: HERALD_UNKNOWN_OP', async () => {
    const c = await connect('ops');
    await expectWsError(c, { id: 'x' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 7 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: ['publish'] }, 'HERALD_INVALID_MESSAGE');
    expect(await expectWsError(c, { op: 'delete', id: 'u1' }, 'HERALD_UNKNOWN_OP')).toMatchObject({ id: 'u1' });
    await expectWsError(c, { op: 'PUBLISH', id: 'u2' }, 'HERALD_UNKNOWN_OP');
    await expectWsError(c, { op: 'x'.repeat(10_000) }, 'HERALD_UNKNOWN_OP');
    await expectWsError(c, { op: '' }, 'HERALD_UNKNOWN_OP');
  });

  // BUG (gateway/Session.ts:89 `this.deps.validators[raw.op]`, validators built with Object.fromEntries in
  // sessionValidators, line 28): the lookup walks Object.prototype, so op "toString" / "constructor" get no reply at
  // all, and "__proto__" / "hasOwnProperty" / "valueOf" / "isPrototypeOf" answer HERALD_INTERNAL (logged as errors).
  it('ops named like Object.prototype members: HERALD_UNKNOWN_OP', async () => {
    const c = await connect('proto');
    const ops = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
    const answers: string[] = [];
    for (const op of ops) {
      await sleep(60); // pacing under the rate limit, as nextReply
      const reply = await c.request({ op, id: `o-${op}` }, 1000).catch(() => ({ code: 'no reply' }));
      answers.push(`${op}: ${reply.code}`);
    }
    expect(answers).toEqual(ops.map((op) => `${op}: HERALD_UNKNOWN_OP`));
  });

  it('wrong types (since as string, events not an array, limit as string, upTo negative): HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('types');
    await expectWsError(c, { op: 'subscribe', since: '0' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'subscribe', since: 1.5 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'subscribe', since: -1 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'subscribe', since: 1e300 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'subscribe', epoch: 'e'.repeat(65) }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'publish', id: 'p', events: { 0: follow('types', 'zed') } }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'publish', id: 'p', events: 'follow' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'publish', id: 7, events: [follow('types', 'zed')] }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ ...follow('types', 'zed'), ts: 'now' }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ ...follow('types', 'zed'), ts: -1 }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ ...follow('types', 'zed'), type: 'poke' }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ ...follow('types', 'zed'), actor: ['types'] }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'timeline', id: 't', limit: '5' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'timeline', id: 't', limit: 101 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'timeline', id: 't', limit: 0 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'read', id: 'r', upTo: -5 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'read', id: 'r', upTo: 2 ** 60 }, 'HERALD_INVALID_MESSAGE');
  });

  it('missing fields (publish without id or events, read without upTo, timeline without id): HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('missing');
    await expectWsError(c, { op: 'publish', events: [follow('missing', 'zed')] }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'publish', id: 'p' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'read', id: 'r' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'timeline' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ type: 'follow', actor: 'missing', target: 'zed' }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ id: 'e', actor: 'missing', target: 'zed' }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ id: 'e', type: 'follow', target: 'zed' }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ id: 'e', type: 'like', actor: 'missing', tweet: { id: 't1' } }]), 'HERALD_INVALID_MESSAGE');
  });

  it('ids out of bounds: event id of 129 chars and empty ids refused, 128 accepted', async () => {
    const c = await connect('ids');
    await expectWsError(c, publish([follow('ids', 'zed', 'e'.repeat(129))]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('ids', 'zed', '')]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('ids', 'zed')], 'i'.repeat(129)), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('ids', 'zed')], ''), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ id: 'e', type: 'like', actor: 'ids', tweet: { id: 't'.repeat(129), author: 'zed' } }]), 'HERALD_INVALID_MESSAGE');
    expect(await nextReply(c, publish([follow('ids', 'zed', 'e'.repeat(128))], 'ok128'))).toMatchObject({ op: 'ack', id: 'ok128', accepted: 1 });
  });

  it('tweet text over 4000 chars, too many mentions or entities: HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('texty');
    const tweet = (t: object) => publish([{ id: 'e', type: 'tweet', actor: 'texty', tweet: { id: 't1', author: 'texty', ...t } }]);
    await expectWsError(c, tweet({ text: 'x'.repeat(4001) }), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, tweet({ text: '😀'.repeat(2001) }), 'HERALD_INVALID_MESSAGE'); // 4002 UTF-16 units
    await expectWsError(c, tweet({ mentions: Array.from({ length: 51 }, (_, i) => `m${i}`) }), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, tweet({ entities: Array.from({ length: 51 }, (_, i) => `#${i}`) }), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, tweet({ entities: [''] }), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, tweet({ text: 42 }), 'HERALD_INVALID_MESSAGE');
  });

  it('user ids with bad characters: HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('prod', { role: 'producer' });
    for (const u of ['bad actor', 'a!b', 'a/b', 'zoë', 'a\u0000b', 'a\nb', '', '../etc', '😀', 'a%2Fb']) {
      await expectWsError(c, publish([follow(u, 'zed')]), 'HERALD_INVALID_MESSAGE');
      await expectWsError(c, publish([follow('prod', u)]), 'HERALD_INVALID_MESSAGE');
    }
    await expectWsError(
      c,
      publish([{ id: 'e', type: 'mention', actor: 'prod', tweet: { id: 't', author: 'prod', mentions: ['ok', 'no way'] } }]),
      'HERALD_INVALID_MESSAGE',
    );
  });

  it('user id of 65 chars refused, 64 accepted', async () => {
    const c = await connect('prod', { role: 'producer' });
    await expectWsError(c, publish([follow('u'.repeat(65), 'zed')]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('prod', 'u'.repeat(65))]), 'HERALD_INVALID_MESSAGE');
    expect(await nextReply(c, publish([follow('u'.repeat(64), 'zed')], 'ok64'))).toMatchObject({ op: 'ack', id: 'ok64', accepted: 1 });
  });

  it('extra properties (message, event, tweet): HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('extra');
    await expectWsError(c, { op: 'subscribe', admin: true }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { ...publish([follow('extra', 'zed')]), role: 'admin' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ ...follow('extra', 'zed'), offset: 1 }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ id: 'e', type: 'tweet', actor: 'extra', tweet: { id: 't', author: 'extra', html: '<b>' } }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, '{"op":"subscribe","__proto__":{"admin":true}}', 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, '{"op":"timeline","id":"t","constructor":{"prototype":{"x":1}}}', 'HERALD_INVALID_MESSAGE');
  });

  it('empty events array and too many events (501): HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('many', { binary: true });
    await expectWsError(c, Buffer.from(encode(publish([]))), 'HERALD_INVALID_MESSAGE');
    const events = Array.from({ length: 501 }, (_, i) => follow('many', 'zed', `m${i}`));
    await expectWsError(c, Buffer.from(encode(publish(events))), 'HERALD_INVALID_MESSAGE');
  });

  it('deep nesting and huge numbers: HERALD_INVALID_MESSAGE, the socket stays', async () => {
    const c = await connect('deep');
    const depth = 20_000;
    await expectWsError(c, `{"op":"subscribe","x":${'['.repeat(depth)}${']'.repeat(depth)}}`, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, `{"op":"publish","id":"p","events":${'['.repeat(depth)}${']'.repeat(depth)}}`, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, '{"op":"timeline","id":"t","before":1e999}', 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, '{"op":"read","id":"r","upTo":123456789012345678901234567890}', 'HERALD_INVALID_MESSAGE');
    const m = await connect('deep', { binary: true });
    // {op:'subscribe', x:[[[...1...]]]} 30,000 arrays deep, written by hand (the encoder recurses).
    const head = Buffer.from(encode({ op: 'subscribe', x: 0 })).subarray(0, -1);
    await expectWsError(m, Buffer.concat([head, Buffer.alloc(30_000, 0x91), Buffer.from([0x01])]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(m, Buffer.from(encode({ op: 'timeline', id: 't', before: 2n ** 63n - 1n }, { useBigInt64: true })), 'HERALD_INVALID_MESSAGE');
    await expectWsError(m, Buffer.from(encode({ op: 'timeline', id: 't', before: new Date() })), 'HERALD_INVALID_MESSAGE');
    await expectWsError(m, Buffer.from(encode({ op: 'timeline', id: 't', before: NaN })), 'HERALD_INVALID_MESSAGE');
    expect(c.closed).toBeUndefined();
    expect(m.closed).toBeUndefined();
  });

  it('lone-surrogate ids (JSON and msgpack): HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('surr');
    await expectWsError(c, publish([follow('surr', 'zed', 'a\ud800')]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('surr', 'zed', '\udc00b')]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('surr', 'zed', 'x')], 'p\udbff'), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([{ id: 'e', type: 'like', actor: 'surr', tweet: { id: '\ud83d', author: 'zed' } }]), 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, publish([follow('surr\ud800', 'zed')]), 'HERALD_INVALID_MESSAGE');
    const m = await connect('surr', { binary: true });
    // Short strings: @msgpack/msgpack writes the lone surrogate as its 3-byte form, which decodes back to it.
    await expectWsError(m, Buffer.from(encode(publish([follow('surr', 'zed', '\ud800')]))), 'HERALD_INVALID_MESSAGE');
    // A well-formed pair is fine.
    expect(await nextReply(c, publish([follow('surr', 'zed', 'pair-😀')], 'okpair'))).toMatchObject({ op: 'ack', id: 'okpair' });
  });

  it('invalid event semantics: HERALD_INVALID_EVENT', async () => {
    const c = await connect('sem');
    await expectWsError(c, publish([{ id: 'e1', type: 'follow', actor: 'sem' }]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([{ id: 'e2', type: 'unfollow', actor: 'sem' }]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([follow('sem', 'sem')]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([{ id: 'e3', type: 'like', actor: 'sem' }]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([{ id: 'e4', type: 'like', actor: 'sem', target: 'bob', tweet: { id: 't', author: 'zed' } }]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([{ id: 'e5', type: 'mention', actor: 'sem', tweet: { id: 't', author: 'sem', mentions: [] } }]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([{ id: 'e6', type: 'tweet', actor: 'sem', tweet: { id: 't', author: 'zed' } }]), 'HERALD_INVALID_EVENT');
    await expectWsError(c, publish([{ id: 'e7', type: 'tweet', actor: 'sem' }]), 'HERALD_INVALID_EVENT');
    // One bad event refuses the whole publish: nothing of it is applied.
    await expectWsError(c, publish([follow('sem', 'zed', 'good1'), { id: 'e8', type: 'follow', actor: 'sem' }]), 'HERALD_INVALID_EVENT');
  });

  it('a user token publishing as another user: HERALD_FORBIDDEN, nothing applied', async () => {
    const victim = await connect('victim');
    victim.send({ op: 'subscribe' });
    await victim.waitFor((m) => m.op === 'subscribed');
    const c = await connect('mallory');
    await expectWsError(c, publish([follow('alice', 'victim')]), 'HERALD_FORBIDDEN');
    await expectWsError(c, publish([follow('mallory', 'zed', 'mine'), follow('alice', 'victim')]), 'HERALD_FORBIDDEN');
    await expectWsError(c, publish([{ id: 'x', type: 'like', actor: 'alice', tweet: { id: 't', author: 'victim' } }]), 'HERALD_FORBIDDEN');
    // A follow allowed after the refusals reaches victim after anything they applied: it is the only one.
    const friend = await connect('friend');
    expect(await friend.request(publish([follow('friend', 'victim', 'allowed')], 'allowed'))).toMatchObject({ op: 'ack' });
    await victim.waitFor((m) => m.op === 'notification');
    expect(victim.notifications().map((n) => n.eventIds)).toEqual([['allowed']]);
  });

  it('subscribe twice on one socket: HERALD_INVALID_MESSAGE, the first subscription keeps working', async () => {
    const c = await connect('twice');
    expect(await nextReply(c, { op: 'subscribe' })).toMatchObject({ op: 'subscribed' });
    await expectWsError(c, { op: 'subscribe' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'subscribe', since: 0 }, 'HERALD_INVALID_MESSAGE');
    const p = await connect('twiceprod', { role: 'producer' });
    await p.request(publish([follow('fanoftwice', 'twice')], 'tw'));
    expect((await c.waitNotifications(1)).map((n) => n.offset)).toEqual([1]);
  });

  it('ping: pong with its id; without an id, or with a bad one: HERALD_INVALID_MESSAGE', async () => {
    const c = await connect('pinger');
    expect(await nextReply(c, { op: 'ping', id: 'k1' })).toEqual({ op: 'pong', id: 'k1' });
    await expectWsError(c, { op: 'ping' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'ping', id: 'k'.repeat(129) }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'ping', id: 'k\ud800' }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'ping', id: 'k2', extra: 1 }, 'HERALD_INVALID_MESSAGE');
    await expectWsError(c, { op: 'subscribe', id: 's'.repeat(129) }, 'HERALD_INVALID_MESSAGE');
  });

  it('a flood past the rate limit: HERALD_RATE_LIMITED, then recovers after waiting', async () => {
    const c = await connect('flooder');
    const n = 80;
    for (let i = 0; i < n; i++) c.send({ op: 'timeline', id: `t${i}`, limit: 1 });
    await waitFor(`${n} replies`, () => c.received.length >= n);
    const limited = c.received.filter((m) => m.op === 'error' && m.code === 'HERALD_RATE_LIMITED');
    const served = c.received.filter((m) => m.op === 'timeline');
    expect(c.received.length).toBe(n);
    expect(served.length).toBeGreaterThanOrEqual(LIMITS.rateBurst);
    expect(served.length).toBeLessThan(n);
    expect(limited.length).toBe(n - served.length);
    expect(c.closed).toBeUndefined();
    await sleep(1200); // the wait is the behaviour: the bucket refills at 20/s, so after 1.2 s it serves again
    expect(await c.request({ op: 'timeline', id: 'after', limit: 1 })).toMatchObject({ op: 'timeline', id: 'after' });
  });

  it('a token expiring mid-session: socket closed with 1008 HERALD_TOKEN_EXPIRED', async () => {
    const c = await TestClient.connect(cluster.info.ws, token('shortlived', 'user', 2));
    clients.push(c);
    c.send({ op: 'subscribe' });
    await c.waitFor((m) => m.op === 'subscribed');
    expect(await waitClosed(c, 5000)).toEqual({ code: 1008, reason: 'HERALD_TOKEN_EXPIRED' });
  });

  // ---------------------------------------------------------------- WebSocket upgrade

  it('upgrade without a token, or with a missing Bearer value: 401', async () => {
    expect(await refusedUpgrade(cluster.info.ws, undefined)).toEqual({ status: 401, code: 'HERALD_UNAUTHORIZED' });
    expect(await refusedUpgrade(`${cluster.info.ws}?token=`, undefined)).toEqual({ status: 401, code: 'HERALD_UNAUTHORIZED' });
    expect(await refusedUpgrade(cluster.info.ws, undefined, { headers: { authorization: 'Bearer' } })).toEqual({ status: 401, code: 'HERALD_UNAUTHORIZED' });
    expect(await refusedUpgrade(cluster.info.ws, undefined, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } })).toEqual({
      status: 401,
      code: 'HERALD_UNAUTHORIZED',
    });
  });

  it('upgrade with a forged, malformed, alg-none, wrong-alg, bad-claims or expired token: 401', async () => {
    for (const t of [bad.forged(), 'not.a.jwt', 'x'.repeat(5000), bad.algNone(), bad.hs512(), bad.badRole(), bad.noSub()]) {
      expect(await refusedUpgrade(cluster.info.ws, t), t.slice(0, 40)).toEqual({ status: 401, code: 'HERALD_UNAUTHORIZED' });
      expect(await refusedUpgrade(cluster.info.ws, t, { viaHeader: true })).toMatchObject({ status: 401 });
    }
    expect(await refusedUpgrade(cluster.info.ws, bad.expired())).toEqual({ status: 401, code: 'HERALD_TOKEN_EXPIRED' });
    // A forged token in the header does not fall back to a valid one... and a valid one is found either way.
    const ok = await TestClient.connect(cluster.info.ws, token('hdr'), { viaHeader: true });
    ok.close();
  });

  it('upgrade on another path: 404', async () => {
    const url = cluster.info.ws.replace('/v1/ws', '/v1/wss');
    expect(await refusedUpgrade(url, token('pathy'))).toEqual({ status: 404, code: 'HERALD_NOT_FOUND' });
    expect(await refusedUpgrade(cluster.info.ws.replace('/v1/ws', '/'), token('pathy'))).toEqual({ status: 404, code: 'HERALD_NOT_FOUND' });
  });

  it('Origin not allowed: 403; the allowed Origin (and no Origin) work', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil', 'http://app.example', 'null', 'https://APP.example']) {
      expect(await refusedUpgrade(cluster.info.ws, token('origin'), { origin }), origin).toEqual({ status: 403, code: 'HERALD_FORBIDDEN' });
    }
    const ok = await connect('origin', { origin: ORIGIN });
    expect(await ok.request({ op: 'timeline', id: 'o1' })).toMatchObject({ op: 'timeline', id: 'o1' });
    const noOrigin = await connect('origin');
    expect(await noOrigin.request({ op: 'timeline', id: 'o2' })).toMatchObject({ op: 'timeline', id: 'o2' });
  });

  it('too many connections: 429 HERALD_TOO_MANY_CONNECTIONS, a slot frees when a socket closes', async () => {
    const open = [await connect('crowd'), await connect('crowd'), await connect('crowd')];
    expect(await refusedUpgrade(cluster.info.ws, token('crowd'))).toEqual({ status: 429, code: 'HERALD_TOO_MANY_CONNECTIONS' });
    // Another user is not affected.
    await connect('crowd2');
    open[0].ws.close();
    const again = await waitFor('a freed slot for crowd', () => TestClient.connect(cluster.info.ws, token('crowd')).catch(() => undefined));
    clients.push(again);
    expect(await refusedUpgrade(cluster.info.ws, token('crowd'))).toMatchObject({ status: 429 });
  });

  // ---------------------------------------------------------------- HTTP

  it('oversize HTTP body (with Content-Length, and chunked): 413', async () => {
    const body = JSON.stringify({ events: [{ id: 'e', type: 'tweet', actor: 'httpbig', tweet: { id: 't', author: 'httpbig', text: 'x'.repeat(70_000) } }] });
    const t = token('httpbig');
    const headers = { 'content-type': 'application/json' };
    await expectHttp(http('POST', '/v1/events', { token: t, headers, body }), 413, 'HERALD_PAYLOAD_TOO_LARGE');
    await expectHttp(http('POST', '/v1/events', { token: t, headers, body, chunked: true }), 413, 'HERALD_PAYLOAD_TOO_LARGE');
    // A lying Content-Length is refused before anything is read.
    await expectHttp(
      http('POST', '/v1/events', { token: t, headers: { ...headers, 'content-length': '10000000' }, body: '' }),
      413,
      'HERALD_PAYLOAD_TOO_LARGE',
    );
  });

  it('wrong or missing content type: 415', async () => {
    const t = token('ctype');
    const body = JSON.stringify({ events: [follow('ctype', 'zed')] });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      await expectHttp(http('POST', '/v1/events', { token: t, headers: { 'content-type': type }, body }), 415, 'HERALD_UNSUPPORTED_MEDIA_TYPE');
    }
    await expectHttp(http('POST', '/v1/events', { token: t, body }), 415, 'HERALD_UNSUPPORTED_MEDIA_TYPE');
    // Parameters and case are tolerated.
    await expectHttp(http('POST', '/v1/events', { token: t, headers: { 'content-type': 'Application/JSON; charset=utf-8' }, body }), 200);
  });

  it('invalid, truncated and non-object HTTP bodies: 400 BAD_FRAME / INVALID_MESSAGE', async () => {
    const t = token('hbody');
    const json = { 'content-type': 'application/json' };
    const mp = { 'content-type': 'application/msgpack' };
    await expectHttp(http('POST', '/v1/events', { token: t, headers: json, body: '{"events":[' }), 400, 'HERALD_BAD_FRAME');
    await expectHttp(http('POST', '/v1/events', { token: t, headers: json, body: '' }), 400, 'HERALD_BAD_FRAME');
    const valid = Buffer.from(encode({ events: [follow('hbody', 'zed')] }));
    await expectHttp(http('POST', '/v1/events', { token: t, headers: mp, body: valid.subarray(0, valid.length - 3) }), 400, 'HERALD_BAD_FRAME');
    await expectHttp(http('POST', '/v1/events', { token: t, headers: mp, body: Buffer.from([0xc1]) }), 400, 'HERALD_BAD_FRAME');
    for (const body of ['null', '[]', '42', '"x"', '{}', '{"events":[]}', '{"events":{}}', '{"events":[{"id":"e"}]}']) {
      await expectHttp(http('POST', '/v1/events', { token: t, headers: json, body }), 400, 'HERALD_INVALID_MESSAGE');
    }
    await expectHttp(
      http('POST', '/v1/events', { token: t, headers: json, body: JSON.stringify({ events: [follow('hbody', 'zed')], x: 1 }) }),
      400,
      'HERALD_INVALID_MESSAGE',
    );
    await expectHttp(
      http('POST', '/v1/events', { token: t, headers: json, body: JSON.stringify({ events: [{ id: 'e', type: 'follow', actor: 'hbody' }] }) }),
      400,
      'HERALD_INVALID_EVENT',
    );
    await expectHttp(http('POST', '/v1/events', { token: t, headers: mp, body: valid }), 200);
  });

  it('unknown HTTP routes and methods: 404', async () => {
    const t = token('router');
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/v1/events'],
      ['DELETE', '/v1/events'],
      ['POST', '/v1/users/router/timeline'],
      ['GET', '/v1/users/router/timeline/extra'],
      ['GET', '/v1/users//timeline'],
      ['GET', '/admin'],
      ['GET', '/v1/ws'],
      ['POST', '/healthz'],
    ]) {
      await expectHttp(http(method, path, { token: t }), 404, 'HERALD_NOT_FOUND');
    }
  });

  it('HTTP without a token, or with a forged, malformed or alg-none token: 401 HERALD_UNAUTHORIZED', async () => {
    const body = JSON.stringify({ events: [follow('mallory', 'zed')] });
    const headers = { 'content-type': 'application/json' };
    await expectHttp(http('POST', '/v1/events', { headers, body }), 401, 'HERALD_UNAUTHORIZED');
    await expectHttp(http('GET', '/v1/users/mallory/timeline'), 401, 'HERALD_UNAUTHORIZED');
    for (const t of [bad.forged(), 'garbage', bad.algNone('mallory', 'admin'), bad.hs512(), bad.badRole(), bad.noSub()]) {
      await expectHttp(http('POST', '/v1/events', { token: t, headers, body }), 401, 'HERALD_UNAUTHORIZED');
      await expectHttp(http('GET', '/v1/users/alice/timeline', { token: t }), 401, 'HERALD_UNAUTHORIZED');
    }
    // Unknown routes are not revealed before the token check either.
    await expectHttp(http('GET', '/secret-route'), 401, 'HERALD_UNAUTHORIZED');
  });

  it('HTTP with an expired token: 401 HERALD_TOKEN_EXPIRED', async () => {
    const t = bad.expired('lapsed');
    await expectHttp(http('GET', '/v1/users/lapsed/timeline', { token: t }), 401, 'HERALD_TOKEN_EXPIRED');
    await expectHttp(http('GET', `/v1/users/lapsed/timeline?token=${t}`), 401, 'HERALD_TOKEN_EXPIRED');
    const body = JSON.stringify({ events: [follow('lapsed', 'zed')] });
    await expectHttp(http('POST', '/v1/events', { token: t, headers: { 'content-type': 'application/json' }, body }), 401, 'HERALD_TOKEN_EXPIRED');
  });

  it('wrong role: user and producer tokens cannot read another timeline (403), admin can; users publish only as themselves', async () => {
    await expectHttp(http('GET', '/v1/users/alice/timeline', { token: token('mallory') }), 403, 'HERALD_FORBIDDEN');
    await expectHttp(http('GET', '/v1/users/alice/timeline', { token: token('mallory', 'producer') }), 403, 'HERALD_FORBIDDEN');
    await expectHttp(http('GET', '/v1/users/Alice/timeline', { token: token('alice') }), 403, 'HERALD_FORBIDDEN');
    await expectHttp(http('GET', '/v1/users/alice/timeline', { token: token('alice') }), 200);
    const page = await expectHttp(http('GET', '/v1/users/bystander/timeline', { token: token('root', 'admin') }), 200);
    expect(page.body.offset).toBeGreaterThan(0);
    const body = JSON.stringify({ events: [follow('alice', 'victim')] });
    await expectHttp(http('POST', '/v1/events', { token: token('mallory'), headers: { 'content-type': 'application/json' }, body }), 403, 'HERALD_FORBIDDEN');
  });

  it('bad timeline parameters: 400 HERALD_INVALID_MESSAGE', async () => {
    const t = token('params');
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'before=-1', 'before=x', 'before=1e400', 'limit=']) {
      await expectHttp(http('GET', `/v1/users/params/timeline?${q}`, { token: t }), 400, 'HERALD_INVALID_MESSAGE');
    }
    for (const u of ['a%20b', 'a%21b', `${'u'.repeat(65)}`, '%F0%9F%98%80', '..', '%00']) {
      const a = await http('GET', `/v1/users/${u}/timeline`, { token: token('root', 'admin') });
      expect([400, 403, 404], `${u}: ${JSON.stringify(a.body)}`).toContain(a.status);
      if (a.status === 400) expect(a.body.code).toBe('HERALD_INVALID_MESSAGE');
    }
  });

  // BUG (gateway/HttpApi.ts:83 `decodeURIComponent(m[1])` outside any check): a malformed percent-escape in the
  // user id throws URIError, answered as 500 HERALD_INTERNAL (and logged as an error) instead of a 400.
  it('malformed percent-encoding in a timeline path: 400, not 500', async () => {
    for (const u of ['%ZZ', '%E0%A4%A', '%', '%C3']) {
      const a = await http('GET', `/v1/users/${u}/timeline`, { token: token('root', 'admin') });
      expect(a.status, `${u}: ${JSON.stringify(a.body)}`).toBe(400);
    }
  });

  it('admin routes with a user or producer token: 403; unknown admin route with admin token: 404', async () => {
    for (const t of [token('mallory'), token('mallory', 'producer')]) {
      await expectHttp(http('GET', '/v1/admin/stats', { token: t }), 403, 'HERALD_FORBIDDEN');
      await expectHttp(http('GET', '/v1/admin/status', { token: t }), 403, 'HERALD_FORBIDDEN');
      const body = '{}';
      const headers = { 'content-type': 'application/json' };
      await expectHttp(http('POST', '/v1/admin/rebalance', { token: t, headers, body }), 403, 'HERALD_FORBIDDEN');
      await expectHttp(http('POST', '/v1/admin/nodes', { token: t, headers, body }), 403, 'HERALD_FORBIDDEN');
      await expectHttp(http('DELETE', '/v1/admin/nodes/node-1', { token: t }), 403, 'HERALD_FORBIDDEN');
    }
    await expectHttp(http('GET', '/v1/admin/stats'), 401, 'HERALD_UNAUTHORIZED');
    await expectHttp(
      http('POST', '/v1/admin/rebalance', { token: bad.algNone('root', 'admin'), headers: { 'content-type': 'application/json' }, body: '{}' }),
      401,
      'HERALD_UNAUTHORIZED',
    );
    await expectHttp(http('GET', '/v1/admin/nope', { token: token('root', 'admin') }), 404, 'HERALD_NOT_FOUND');
    await expectHttp(http('GET', '/v1/admin/status', { token: token('root', 'admin') }), 200);
  });

  it('/v1/explain: bad user id or tweet id 400, another user 403', async () => {
    const t = token('curious');
    for (const q of [
      'user=a%20b&tweet=t1',
      'user=&tweet=t1',
      'tweet=t1',
      'user=curious',
      'user=curious&tweet=',
      `user=curious&tweet=${'t'.repeat(129)}`,
      `user=${'u'.repeat(65)}&tweet=t1`,
    ]) {
      await expectHttp(http('GET', `/v1/explain?${q}`, { token: t }), 400, 'HERALD_INVALID_MESSAGE');
    }
    await expectHttp(http('GET', '/v1/explain?user=alice&tweet=t1', { token: t }), 403, 'HERALD_FORBIDDEN');
    await expectHttp(http('GET', '/v1/explain?user=alice&tweet=t1'), 401, 'HERALD_UNAUTHORIZED');
  });

  it('/healthz: {ok} without a token or with a user token; nodes and pids only for admin', async () => {
    const open = await expectHttp(http('GET', '/healthz'), 200);
    expect(open.body).toEqual({ ok: true });
    const user = await expectHttp(http('GET', '/healthz', { token: token('mallory') }), 200);
    expect(user.body).toEqual({ ok: true });
    const producer = await expectHttp(http('GET', '/healthz', { token: token('mallory', 'producer') }), 200);
    expect(producer.body).toEqual({ ok: true });
    const forgedAdmin = await expectHttp(http('GET', '/healthz', { token: bad.algNone('root', 'admin') }), 200);
    expect(forgedAdmin.body).toEqual({ ok: true });
    const admin = await expectHttp(http('GET', '/healthz', { token: token('root', 'admin') }), 200);
    expect(Object.keys(admin.body.nodes).sort()).toEqual(Object.keys(cluster.info.nodes).sort());
  });

  // ---------------------------------------------------------------- nobody else noticed

  it('the bystander published and received all of its notifications throughout', async () => {
    bystander.stop = true;
    await bystander.loop;
    expect(bystander.errors).toEqual([]);
    expect(bystander.acked.length).toBeGreaterThan(20);
    const notes = await by.waitNotifications(bystander.acked.length);
    expect(notes.map((n) => n.offset)).toEqual(bystander.acked.map((_, i) => i + 1));
    expect(notes.map((n) => n.eventIds[0])).toEqual(bystander.acked);
    expect(by.received.filter((m) => m.op === 'error')).toEqual([]);
    expect(by.closed).toBeUndefined();
  });

  it('no process restarted: node pids as printed at start, all alive, gateway alive', async () => {
    const admin = await expectHttp(http('GET', '/healthz', { token: token('root', 'admin') }), 200);
    expect(admin.body.ok).toBe(true);
    const pids = Object.fromEntries(Object.entries(admin.body.nodes as Record<string, { ok: boolean; pid: number }>).map(([id, n]) => [id, n.pid]));
    expect(pids).toEqual(cluster.info.nodes);
    for (const pid of Object.values(cluster.info.nodes)) expect(isAlive(pid), `node pid ${pid}`).toBe(true);
    expect(cluster.child.exitCode).toBeNull();
    expect(isAlive(cluster.pid)).toBe(true);
  });

  it('no token and not the secret in the logs', async () => {
    // A socket error the gateway logs (debug), caused last: once its line has arrived, so has all it logged before.
    const marker = await connect('logmark');
    (marker.ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x8d, 0x80, 0, 0, 0, 0])); // reserved opcode 13
    await waitFor("the gateway's log of the reserved opcode", () => cluster.logs.includes('invalid opcode 13'));
    const logs = cluster.logs;
    expect(logs.length).toBeGreaterThan(0); // debug level: the cluster did log
    expect(used.length).toBeGreaterThan(50);
    expect(logs.includes(secret), 'the secret is in the logs').toBe(false);
    for (const t of new Set(used)) {
      expect(logs.includes(t), `token ${t.slice(0, 24)}... is in the logs`).toBe(false);
      const signature = t.split('.')[2];
      if (signature && signature.length >= 16) expect(logs.includes(signature), `signature of ${t.slice(0, 24)}... is in the logs`).toBe(false);
    }
  });

  // Last, because it takes the cluster down while the bug is there.
  // BUG (gateway/HttpApi.ts:104 `new URL(req.url ?? '/', 'http://herald')` runs outside the try/catch of the
  // request handler): one unauthenticated request with an unparseable target such as `GET //[ HTTP/1.1` throws
  // ERR_INVALID_URL in the 'request' listener, an uncaught exception that exits the gateway and with it every node.
  it('an unparseable request target gets a 4xx and the gateway stays up', async () => {
    const url = new URL(cluster.info.http);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = netConnect(Number(url.port), url.hostname, () => s.write('GET //[ HTTP/1.1\r\nHost: herald\r\n\r\n'));
      let got = '';
      const done = () => (clearTimeout(timer), resolve(got));
      const timer = setTimeout(() => (s.destroy(), reject(new Error(`no answer's head to GET //[ within 10 s; got ${JSON.stringify(got)}`))), 10_000);
      // The answer's head is all the test needs: done once it has arrived, or when the gateway closes.
      s.on('data', (d) => {
        got += d.toString();
        if (!got.includes('\r\n\r\n')) return;
        s.destroy();
        done();
      });
      s.on('close', done);
      s.on('error', done);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 4\d\d /);
    // A request after it is served: the gateway handled the bad one and is still up.
    expect((await http('GET', '/healthz')).status).toBe(200);
    expect(isAlive(cluster.pid)).toBe(true);
  });
});
