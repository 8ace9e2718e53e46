import type { Request, Response } from 'express';
import { ValidationError } from '../../errors';

/**
 * The browser console's refresh token lives in a cookie the page's scripts cannot read (HttpOnly), that
 * no other site's page can make the browser send (SameSite=Strict), and that only travels to the
 * auth routes (Path=/api/v1/auth), never with ordinary API calls. The access token stays in the page's
 * memory, so an injected script can use a session while the page is open but cannot carry a long-lived
 * credential away; and a forged cross-site request neither carries the cookie nor can read an answer.
 * API clients keep sending refresh tokens in the body, as before.
 */
export const REFRESH_COOKIE = 'wwp_refresh';
export const REFRESH_COOKIE_PATH = '/api/v1/auth';

export function setRefreshCookie(req: Request, res: Response, token: string, expiresAt: string): void {
  res.cookie(REFRESH_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: req.secure,
    path: REFRESH_COOKIE_PATH,
    expires: new Date(expiresAt),
  });
}

export function clearRefreshCookie(req: Request, res: Response): void {
  res.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: REFRESH_COOKIE_PATH });
}

/** The refresh token from the cookie, or undefined. */
export function refreshCookieOf(req: Request): string | undefined {
  const header = req.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === REFRESH_COOKIE) {
      const value = decodeURIComponent(part.slice(eq + 1).trim());
      return value || undefined;
    }
  }
  return undefined;
}

/**
 * A cookie-authenticated refresh must come as JSON: a cross-site HTML form cannot send that content
 * type, and a script on another origin cannot without a CORS preflight this API does not grant with
 * credentials. A second wall behind SameSite=Strict, for browsers that do not enforce it.
 */
export function assertJsonRequest(req: Request): void {
  if (!req.is('application/json')) {
    throw new ValidationError([{ field: 'headers.content-type', message: 'a cookie session is refreshed with an application/json request' }]);
  }
}
