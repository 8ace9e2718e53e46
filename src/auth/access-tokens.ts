import jwt from 'jsonwebtoken';
import type { Config } from '../config';

/** Claims of a short-lived access token. `tid` is absent for the platform admin. */
export interface AccessClaims {
  sub: string;
  tid?: string;
  kind: 'user' | 'platform';
}

const ISSUER = 'wework-platform';

export function signAccessToken(auth: Config['auth'], claims: AccessClaims): string {
  return jwt.sign(claims, auth.jwtSecret, { algorithm: 'HS256', expiresIn: auth.accessTokenTtl, issuer: ISSUER });
}

/** Returns the claims, or undefined for a bad, expired or foreign token. */
export function verifyAccessToken(auth: Config['auth'], token: string): AccessClaims | undefined {
  try {
    const decoded = jwt.verify(token, auth.jwtSecret, { algorithms: ['HS256'], issuer: ISSUER });
    if (typeof decoded !== 'object' || typeof decoded.sub !== 'string') return undefined;
    const kind = decoded.kind === 'platform' ? 'platform' : 'user';
    return { sub: decoded.sub, tid: typeof decoded.tid === 'string' ? decoded.tid : undefined, kind };
  } catch {
    return undefined;
  }
}
