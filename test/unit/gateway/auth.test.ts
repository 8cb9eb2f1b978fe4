import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Auth, tokenFrom } from '../../../gateway/Auth';

const unauthorized = expect.objectContaining({ code: 'HERALD_UNAUTHORIZED' });

describe('Auth', () => {
  let dir: string;
  let auth: Auth;
  const secret = () => readFileSync(join(dir, 'secret'), 'utf8').trim();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-auth-'));
    auth = Auth.fromDataDir(join(dir));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the secret file with mode 0600 and reuses it', () => {
    const file = join(dir, 'secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(secret()).toMatch(/^[0-9a-f]{64}$/);
    const token = auth.sign('alice', 'user', 60);
    expect(Auth.fromDataDir(dir).verify(token).sub).toBe('alice'); // same secret after a restart
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('sign/verify round trip', () => {
    const before = Math.floor(Date.now() / 1000);
    const p = auth.verify(auth.sign('alice', 'producer', 3600));
    expect(p.sub).toBe('alice');
    expect(p.role).toBe('producer');
    expect(p.exp).toBeGreaterThanOrEqual(before + 3600);
    expect(p.exp).toBeLessThanOrEqual(before + 3601);
  });

  it('rejects a missing or malformed token', () => {
    expect(() => auth.verify(undefined)).toThrow(unauthorized);
    expect(() => auth.verify('')).toThrow(unauthorized);
    expect(() => auth.verify('a.b.c')).toThrow(unauthorized);
  });

  it('rejects a token signed with another secret', () => {
    const otherDir = mkdtempSync(join(tmpdir(), 'herald-auth-other-'));
    try {
      const forged = Auth.fromDataDir(otherDir).sign('alice', 'admin', 60);
      expect(() => auth.verify(forged)).toThrow(unauthorized);
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('rejects an unsigned (alg none) token', () => {
    const none = jwt.sign({ role: 'admin' }, '', { algorithm: 'none', subject: 'alice' });
    expect(() => auth.verify(none)).toThrow(unauthorized);
  });

  it('rejects an expired token (ttl 1, clock moved past it)', () => {
    vi.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    const token = auth.sign('alice', 'user', 1);
    expect(auth.verify(token).sub).toBe('alice');
    vi.setSystemTime(new Date('2030-01-01T00:00:05Z'));
    expect(() => auth.verify(token)).toThrow(expect.objectContaining({ code: 'HERALD_TOKEN_EXPIRED' }));
  });

  it('rejects an expired token signed directly', () => {
    const token = jwt.sign({ role: 'user', sub: 'alice', exp: Math.floor(Date.now() / 1000) - 10 }, secret(), { algorithm: 'HS256' });
    expect(() => auth.verify(token)).toThrow(expect.objectContaining({ code: 'HERALD_TOKEN_EXPIRED' }));
  });

  it('rejects a bad role claim or a missing subject', () => {
    const s = secret();
    const badRole = jwt.sign({ role: 'root' }, s, { algorithm: 'HS256', subject: 'alice', expiresIn: 60 });
    const noRole = jwt.sign({}, s, { algorithm: 'HS256', subject: 'alice', expiresIn: 60 });
    const noSub = jwt.sign({ role: 'user' }, s, { algorithm: 'HS256', expiresIn: 60 });
    for (const t of [badRole, noRole, noSub]) expect(() => auth.verify(t)).toThrow(unauthorized);
  });

  it('tokenFrom prefers the Bearer header, else ?token=', () => {
    expect(tokenFrom('Bearer abc', new URL('http://h/ws?token=q'))).toBe('abc');
    expect(tokenFrom('bearer  abc', new URL('http://h/ws'))).toBe('abc');
    expect(tokenFrom(undefined, new URL('http://h/ws?token=q'))).toBe('q');
    expect(tokenFrom('Basic xyz', new URL('http://h/ws'))).toBeUndefined();
  });

  it('verifies tokens of the previous secret after a rotation, and only those two', () => {
    const old = auth.sign('alice', 'user', 60);
    Auth.rotate(dir);
    const rotated = Auth.fromDataDir(dir);
    expect(rotated.verify(old).sub).toBe('alice');
    const fresh = rotated.sign('bob', 'user', 60);
    expect(rotated.verify(fresh).sub).toBe('bob');
    expect(() => auth.verify(fresh)).toThrow(unauthorized);
    Auth.rotate(dir);
    expect(() => Auth.fromDataDir(dir).verify(old)).toThrow(unauthorized);
    expect(Auth.fromDataDir(dir).verify(fresh).sub).toBe('bob');
  });
});
