import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { HeraldError } from '../storage/HeraldError';

export type Role = 'user' | 'producer' | 'admin';
export const ROLES: readonly Role[] = ['user', 'producer', 'admin'];

/** Who is calling: the token's `sub` (a UserId) and role. */
export interface Principal {
  sub: string;
  role: Role;
  /** Expiry, seconds since the epoch. */
  exp?: number;
}

const SECRET_FILE = 'secret';

/**
 * HS256 tokens (jsonwebtoken: well-kept, and it checks alg and exp for us). The secret is generated on first
 * start into the data dir with mode 0600 and is never logged.
 */
export class Auth {
  private constructor(private readonly secret: string) {}

  static fromDataDir(dataDir: string): Auth {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, SECRET_FILE);
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return new Auth(readFileSync(file, 'utf8').trim());
  }

  sign(sub: string, role: Role, ttlSec: number): string {
    return jwt.sign({ role }, this.secret, { algorithm: 'HS256', subject: sub, expiresIn: ttlSec });
  }

  /** The principal of a valid token; HERALD_UNAUTHORIZED for a missing, forged, expired or malformed one. */
  verify(token: string | undefined): Principal {
    if (!token) throw new HeraldError('HERALD_UNAUTHORIZED', 'missing token');
    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(token, this.secret, { algorithms: ['HS256'] }) as jwt.JwtPayload;
    } catch (err) {
      const expired = (err as Error).name === 'TokenExpiredError';
      throw new HeraldError('HERALD_UNAUTHORIZED', expired ? 'token expired' : 'invalid token');
    }
    if (typeof claims.sub !== 'string' || !ROLES.includes(claims.role)) {
      throw new HeraldError('HERALD_UNAUTHORIZED', 'invalid token claims');
    }
    return { sub: claims.sub, role: claims.role, exp: claims.exp };
  }
}

/** `Authorization: Bearer <token>`, else `?token=` (browsers cannot set headers on a WebSocket). */
export function tokenFrom(authorization: string | undefined, url: URL): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return m ? m[1] : url.searchParams.get('token') ?? undefined;
}
