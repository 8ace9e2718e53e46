import jwt from 'jsonwebtoken';
import type { Config } from '../config';

/**
 * Claims of a short-lived access token. `tid` is absent for the platform admin. `ver` is the operator's
 * token version when signed (absent counts as 0): a password reset raises it, ending older tokens.
 */
export interface AccessClaims {
  sub: string;
  tid?: string;
  kind: 'user' | 'platform';
  ver?: number;
}

const ISSUER = 'wework-platform';

export function signAccessToken(auth: Config['auth'], claims: AccessClaims): string {
  return jwt.sign(claims, auth.jwtSecret, { algorithm: 'HS256', expiresIn: auth.accessTokenTtl, issuer: ISSUER });
}

/** Returns the claims (with `exp`, seconds since the epoch), or undefined for a bad, expired or foreign token. */
export function verifyAccessToken(auth: Config['auth'], token: string): (AccessClaims & { ver: number; exp: number }) | undefined {
  try {
    const decoded = jwt.verify(token, auth.jwtSecret, { algorithms: ['HS256'], issuer: ISSUER });
    if (typeof decoded !== 'object' || typeof decoded.sub !== 'string' || typeof decoded.exp !== 'number') return undefined;
    const kind = decoded.kind === 'platform' ? 'platform' : 'user';
    const ver = Number.isSafeInteger(decoded.ver) ? (decoded.ver as number) : 0;
    return { sub: decoded.sub, tid: typeof decoded.tid === 'string' ? decoded.tid : undefined, kind, ver, exp: decoded.exp };
  } catch {
    return undefined;
  }
}
