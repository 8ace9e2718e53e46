/**
 * The operator's session. The access token lives only in this module's memory (never in storage a
 * script could read later); the refresh token is an HttpOnly cookie the browser sends to /api/v1/auth
 * alone (see the README, "Web console"). A reload restores the session by refreshing through the cookie.
 */
export interface SessionUser {
  id: string;
  username: string;
  real_name?: string | null;
}

export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

let accessToken: string | null = null;
let platform = false;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<boolean> | null = null;
const listeners = new Set<() => void>();

export const currentToken = () => accessToken;
export const onSessionChange = (fn: () => void) => {
  listeners.add(fn);
  return () => listeners.delete(fn);
};

function adopt(token: string | null, expiresIn?: number): void {
  accessToken = token;
  clearTimeout(refreshTimer);
  // Refresh a little before the access token expires, so requests rarely meet a 401.
  if (token && expiresIn) refreshTimer = setTimeout(() => void refreshSession(), Math.max(5, expiresIn - 30) * 1000);
  for (const fn of listeners) fn();
}

async function authPost(path: string, body: unknown): Promise<Response> {
  return fetch(`/api/v1/auth/${path}`, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function failure(res: Response): Promise<AuthError> {
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
  const retryAfter = Number(res.headers.get('retry-after') ?? '') || undefined;
  return new AuthError(res.status, json.error?.code ?? 'error', json.error?.message ?? res.statusText, json.error?.details, retryAfter);
}

export async function signIn(tenantCode: string, username: string, password: string): Promise<void> {
  const res = await authPost('login', { tenant_code: tenantCode, username, password, session: 'cookie' });
  if (!res.ok) throw await failure(res);
  const body = (await res.json()) as { access_token: string; expires_in: number };
  platform = false;
  adopt(body.access_token, body.expires_in);
}

/**
 * The platform admin signs in with the service's configured credentials and gets an access token only
 * (no refresh token): it lives in memory like the operator's, and a reload asks to sign in again.
 */
export async function platformSignIn(username: string, password: string): Promise<void> {
  const res = await fetch('/api/v1/platform/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (!res.ok) throw await failure(res);
  const body = (await res.json()) as { access_token: string };
  platform = true;
  adopt(body.access_token);
}

/** Whether the session in memory is the platform admin's (it has no refresh cookie to fall back on). */
export const isPlatformSession = () => platform && accessToken !== null;

/** One refresh at a time, however many requests met a 401 together. */
export function refreshSession(): Promise<boolean> {
  if (platform) {
    platform = false;
    adopt(null);
    return Promise.resolve(false);
  }
  inflight ??= (async () => {
    try {
      const res = await authPost('refresh', {});
      if (!res.ok) {
        adopt(null);
        return false;
      }
      const body = (await res.json()) as { access_token: string; expires_in: number };
      adopt(body.access_token, body.expires_in);
      return true;
    } catch {
      return false;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

export async function signOut(): Promise<void> {
  if (!platform) await authPost('logout', {}).catch(() => undefined);
  platform = false;
  adopt(null);
}
