import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { HeraldError } from '../core/HeraldError';

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
const PREVIOUS_FILE = 'secret.previous';

/**
 * HS256 tokens (jsonwebtoken: well-kept, and it checks alg and exp for us). The secret is generated on first
 * start into the data dir with mode 0600 and is never logged. Rotation (`npm run token -- --rotate`) keeps the
 * old secret as `secret.previous`: tokens signed with either verify until the previous one is retired.
 */
export class Auth {
  private secrets: string[] = [];

  private constructor(private readonly dataDir: string) {
    this.reload();
  }

  static fromDataDir(dataDir: string): Auth {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, SECRET_FILE);
    if (!existsSync(file)) writeSecret(file);
    chmodSync(file, 0o600);
    return new Auth(dataDir);
  }

  /** Re-reads the secrets (the cluster script calls it on SIGHUP, after a rotation). */
  reload(): void {
    const secrets = [readFileSync(join(this.dataDir, SECRET_FILE), 'utf8').trim()];
    const previous = join(this.dataDir, PREVIOUS_FILE);
    if (existsSync(previous)) secrets.push(readFileSync(previous, 'utf8').trim());
    this.secrets = secrets;
  }

  /** New secret; the current one becomes `secret.previous` (and the one before is retired). */
  static rotate(dataDir: string): void {
    const file = join(dataDir, SECRET_FILE);
    if (existsSync(file)) renameSync(file, join(dataDir, PREVIOUS_FILE));
    writeSecret(file);
  }

  sign(sub: string, role: Role, ttlSec: number): string {
    return jwt.sign({ role }, this.secrets[0], { algorithm: 'HS256', subject: sub, expiresIn: ttlSec });
  }

  /** The principal of a valid token; HERALD_UNAUTHORIZED for a missing, forged, expired or malformed one. */
  verify(token: string | undefined): Principal {
    if (!token) throw new HeraldError('HERALD_UNAUTHORIZED', 'missing token');
    let claims: jwt.JwtPayload | undefined;
    let expired = false;
    for (const secret of this.secrets) {
      try {
        claims = jwt.verify(token, secret, { algorithms: ['HS256'] }) as jwt.JwtPayload;
        break;
      } catch (err) {
        expired ||= (err as Error).name === 'TokenExpiredError';
      }
    }
    if (!claims) throw expired ? new HeraldError('HERALD_TOKEN_EXPIRED', 'token expired') : new HeraldError('HERALD_UNAUTHORIZED', 'invalid token');
    if (typeof claims.sub !== 'string' || !ROLES.includes(claims.role)) {
      throw new HeraldError('HERALD_UNAUTHORIZED', 'invalid token claims');
    }
    return { sub: claims.sub, role: claims.role, exp: claims.exp };
  }
}

function writeSecret(file: string): void {
  writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
}

/** `Authorization: Bearer <token>`, else `?token=` (browsers cannot set headers on a WebSocket). */
export function tokenFrom(authorization: string | undefined, url: URL): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return m ? m[1] : (url.searchParams.get('token') ?? undefined);
}
