import type { IncomingMessage, ServerResponse } from 'node:http';
import { encode } from '@msgpack/msgpack';
import type { HeraldEvent } from '../core/Event';
import { HeraldError } from '../core/HeraldError';
import type { Logger } from '../core/logger';
import { tokenFrom, type Auth, type Principal } from './Auth';
import type { HeraldConfig } from '../core/config';
import type { Metrics } from './Metrics';
import type { Router } from './Router';
import type { AdminApi } from './AdminApi';
import { MSGPACK, readBody, readJsonObject } from './RequestBody';
import { UserIdSchema, checkTimeZone, httpPublishSchema, settingsPatchValidator, validator } from './Schema';
import { authorizeEvents } from './Session';

export interface HttpDeps {
  auth: Auth;
  router: Router;
  config: HeraldConfig;
  log: Logger;
  /** Per node: does it answer a ping in time? */
  health: () => Promise<Record<string, { ok: boolean; pid?: number }>>;
  /** Admin routes (/v1/admin/...). */
  admin: AdminApi;
  /** GET /metrics (admin token); absent: no such route. */
  metrics?: Metrics;
}

const TIMELINE_PATH = /^\/v1\/users\/([^/]+)\/timeline$/;
const SETTINGS_PATH = /^\/v1\/users\/([^/]+)\/settings$/;

/**
 * The HTTP half of the gateway (same port as /v1/ws): POST /v1/events for producers, GET a user's timeline,
 * GET /healthz. Errors are `{code, message}` with the status of the code.
 */
export function httpHandler(deps: HttpDeps) {
  const validatePublish = validator(httpPublishSchema(deps.config.maxEventsPerPublish));
  const validateUser = validator(UserIdSchema);
  const validateSettings = settingsPatchValidator();

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (url.pathname === '/healthz' && req.method === 'GET') {
      // Open to probes without a token, so it says only up or down; the per-node detail needs an admin token.
      const nodes = await deps.health();
      const ok = Object.values(nodes).every((n) => n.ok);
      const admin = optionalPrincipal(req, url)?.role === 'admin';
      return reply(res, ok ? 200 : 503, admin ? { ok, nodes } : { ok }, req);
    }
    const principal = deps.auth.verify(tokenFrom(req.headers.authorization, url));
    if (url.pathname === '/v1/events') {
      if (req.method !== 'POST') throw new HeraldError('HERALD_NOT_FOUND', 'use POST /v1/events');
      const body = validatePublish(await readBody(req, deps.config.maxPayload));
      const receivedAt = performance.now();
      deps.metrics?.received('http', body.events.length);
      let accepted: number;
      try {
        accepted = await deps.router.publish(authorizeEvents(principal, body.events as HeraldEvent[]), receivedAt);
      } catch (err) {
        deps.metrics?.rejected('http', HeraldError.from(err).code, body.events.length);
        throw err;
      }
      deps.metrics?.acked('http', accepted);
      return reply(res, 200, { accepted }, req);
    }
    if (url.pathname === '/metrics' && req.method === 'GET' && deps.metrics) {
      if (principal.role !== 'admin') throw new HeraldError('HERALD_FORBIDDEN', 'admin only');
      const text = await deps.metrics.scrape();
      res.writeHead(200, { 'content-type': deps.metrics.contentType });
      res.end(text);
      return;
    }
    if (url.pathname.startsWith('/v1/admin/')) {
      if (principal.role !== 'admin') throw new HeraldError('HERALD_FORBIDDEN', 'admin only');
      const [status, body] = await deps.admin.handle(req.method ?? 'GET', url.pathname, () => readJsonObject(req, deps.config.maxPayload));
      return reply(res, status, body, req);
    }
    if (url.pathname === '/v1/explain' && req.method === 'GET') {
      const user = validateUser(url.searchParams.get('user') ?? '');
      const tweet = url.searchParams.get('tweet');
      if (!tweet || tweet.length > 128) throw new HeraldError('HERALD_INVALID_MESSAGE', 'tweet must be a tweet id');
      if (principal.role !== 'admin' && principal.sub !== user) throw new HeraldError('HERALD_FORBIDDEN', 'explain is for the user or an admin');
      return reply(res, 200, await deps.router.call(user, 'explain', { user, tweet }), req);
    }
    const st = SETTINGS_PATH.exec(url.pathname);
    if (st && (req.method === 'GET' || req.method === 'PUT')) {
      const user = validateUser(segment(st[1]));
      if (principal.role !== 'admin' && principal.sub !== user) throw new HeraldError('HERALD_FORBIDDEN', 'a token reads and writes only its own settings');
      const patch = req.method === 'PUT' ? validateSettings(await readBody(req, deps.config.maxPayload)) : undefined;
      checkTimeZone(patch?.tz);
      return reply(res, 200, { settings: await deps.router.call(user, 'settings', { user, patch }) }, req);
    }
    const m = TIMELINE_PATH.exec(url.pathname);
    if (m && req.method === 'GET') {
      const user = validateUser(segment(m[1]));
      if (principal.role !== 'admin' && principal.sub !== user) {
        throw new HeraldError('HERALD_FORBIDDEN', 'a token reads only its own timeline');
      }
      const before = intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER);
      const limit = intParam(url, 'limit', 1, 100) ?? 20;
      const page = await deps.router.call(user, 'timeline', { user, before, limit });
      return reply(res, 200, page, req);
    }
    throw new HeraldError('HERALD_NOT_FOUND', `no route ${req.method} ${url.pathname}`);
  }

  function optionalPrincipal(req: IncomingMessage, url: URL): Principal | undefined {
    try {
      return deps.auth.verify(tokenFrom(req.headers.authorization, url));
    } catch {
      return undefined;
    }
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    let path = '?';
    // Everything, URL parsing included, runs inside the catch: no request can throw out of the handler.
    (async () => {
      const url = parseUrl(req.url);
      path = url.pathname;
      await route(req, res, url);
    })().catch((err) => {
      const e = HeraldError.from(err);
      deps.metrics?.error('http', e.code);
      if (e.code === 'HERALD_INTERNAL') deps.log.error({ err, path }, 'http error');
      // A body left unread (or promised and never sent) must not stall a kept-alive connection: close it.
      if (!res.headersSent) {
        if (!req.complete) res.setHeader('connection', 'close');
        reply(res, e.httpStatus, e.toJSON(), req);
      }
      // Drain what the client still sends, so it can read the answer; the connection then closes.
      if (!req.complete) req.resume();
    });
  };
}

function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://herald');
  } catch {
    throw new HeraldError('HERALD_NOT_FOUND', 'malformed request target');
  }
}

/** A user id from a path segment; a malformed %-escape is bad input, not a server error. */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HeraldError('HERALD_INVALID_MESSAGE', 'malformed %-escape in the path');
  }
}

function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HeraldError('HERALD_INVALID_MESSAGE', `${name} must be an integer in ${min}..${max}`);
  }
  return n;
}

function reply(res: ServerResponse, status: number, body: object, req: IncomingMessage): void {
  const wantsMsgpack = (req.headers.accept ?? '').includes(MSGPACK);
  const payload = wantsMsgpack ? Buffer.from(encode(body, { ignoreUndefined: true })) : JSON.stringify(body);
  res.writeHead(status, { 'content-type': wantsMsgpack ? MSGPACK : 'application/json' });
  res.end(payload);
}
