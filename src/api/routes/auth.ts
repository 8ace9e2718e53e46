import { Router, type Request, type RequestHandler, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { z } from 'zod';
import { LoginGuard } from '../../auth/login-guard';
import { checkPlatformAdmin, platformAccessToken } from '../../auth/platform-admin';
import { changePassword, login, logout, refreshSession, type SessionAudit } from '../../auth/sessions';
import type { AppContext } from '../../context';
import { getApiKey } from '../../db/api-keys';
import { findTenant, findTenantByCode, type TenantRow } from '../../db/tenants';
import { withRoles } from '../../db/users';
import { ForbiddenError, TooManyRequestsError, UnauthorizedError, ValidationError } from '../../errors';
import { forEachMaster, redisKey } from '../../redis';
import { principalOf } from '../principal';
import { body } from '../validate';
import { ApiKeyOut, Password, TenantOut, TokenResponse, UserOut } from './access-schemas';
import { auditAs } from '../audit';
import { jsonBody } from '../input-guards';
import { documentRoute } from './route-docs';
import { assertJsonRequest, clearRefreshCookie, refreshCookieOf, setRefreshCookie } from './refresh-cookie';

const LoginBody = z.object({
  tenant_code: z.string().trim().min(1).max(50),
  username: z.string().trim().min(1).max(50),
  password: z.string().min(1).max(200),
});
const LoginBodyWithSession = LoginBody.extend({
  session: z
    .enum(['body', 'cookie'])
    .default('body')
    .describe('cookie: the refresh token is set as an HttpOnly SameSite=Strict cookie on /api/v1/auth and left out of the body (the web console)'),
});
const RefreshBody = z.object({
  refresh_token: z.string().min(1).max(200).optional().describe('absent: the refresh cookie is used (and rotated)'),
});
const ChangePasswordBody = z.object({
  current_password: z.string().min(1).max(200),
  new_password: Password,
  session: LoginBodyWithSession.shape.session,
});
const PlatformLoginBody = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(200) });
const PlatformToken = z.object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int() });
const MeResponse = z.object({
  kind: z.enum(['user', 'api_key', 'platform']),
  id: z.string(),
  tenant: TenantOut.nullable(),
  user: UserOut.nullable(),
  api_key: ApiKeyOut.nullable(),
  permissions: z.array(z.string()),
});

const tag = 'Auth';
documentRoute({ method: 'post', path: '/api/v1/auth/login', tag, public: true, summary: 'Operator login: access token (JWT) and refresh token', body: LoginBodyWithSession, response: TokenResponse, errors: [400, 401, 403, 423, 429] });
documentRoute({ method: 'post', path: '/api/v1/auth/refresh', tag, public: true, summary: 'Rotate a refresh token (the old one is revoked; reusing it revokes the whole login)', body: RefreshBody, response: TokenResponse, errors: [400, 401, 403, 429] });
documentRoute({ method: 'post', path: '/api/v1/auth/logout', tag, public: true, summary: 'Revoke a refresh token and every token rotated from the same login', body: RefreshBody, errors: [400] });
documentRoute({ method: 'post', path: '/api/v1/auth/password', tag, summary: "Change the caller's own password: every other session ends (access and refresh tokens, sockets); a new token pair is returned. A wrong current password counts toward the login lockout", body: ChangePasswordBody, response: TokenResponse, errors: [400, 401, 403, 422, 423] });
documentRoute({ method: 'get', path: '/api/v1/auth/me', tag, summary: 'Who the credential belongs to, with its permissions', response: MeResponse, errors: [401, 403] });
documentRoute({ method: 'post', path: '/api/v1/platform/login', tag: 'Platform', public: true, summary: 'Platform admin login (credentials from config)', body: PlatformLoginBody, response: PlatformToken, errors: [400, 401, 429] });

/**
 * Login attempts per client IP and tenant, counted in Redis so every API replica shares the
 * budget. Over the limit: 429 with Retry-After.
 */
function loginRateLimit(ctx: AppContext, name: string, keyOf: (req: Request, res: Response) => string, perMinute = ctx.config.auth.loginRatePerMinute): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req, res) => `${ipKeyGenerator(req.ip ?? 'unknown')}|${keyOf(req, res)}`,
    store: new RedisStore({
      prefix: `${redisKey(ctx.config.redis.prefix, 'ratelimit', name)}:`,
      // SCRIPT LOAD goes to every master: on Redis Cluster a random node's script cache is not the
      // key's node's (a plain Redis is its own only master); everything else is routed by its key.
      sendCommandCluster: async ({ command: [name, ...args] }) =>
        (name.toUpperCase() === 'SCRIPT'
          ? (await forEachMaster(ctx.redis, (node) => node.call(name, ...args)))[0]
          : await ctx.redis.call(name, ...args)) as RedisReply,
    }),
    handler: (req, _res, next) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
      next(new TooManyRequestsError(seconds));
    },
  });
}

const requestIp = (req: Request) => req.ip ?? null;

/** Moves the refresh token of a token answer into the HttpOnly cookie. */
function intoCookie<T extends { refresh_token?: string; refresh_expires_at: string }>(req: Request, res: Response, tokens: T): Omit<T, 'refresh_token'> {
  const { refresh_token, ...rest } = tokens;
  if (refresh_token) setRefreshCookie(req, res, refresh_token, tokens.refresh_expires_at);
  return rest;
}

function sessionAudit(req: Request): SessionAudit {
  return (trx, actor, action, target, details) => auditAs(trx, req, actor, action, target, details);
}

/** Login, refresh, logout and platform login: they run before (and without) bearer authentication. */
export function authPublicRouter(ctx: AppContext): Router {
  const router = Router();
  const json = jsonBody(ctx.config.http.bodyLimit);
  const guard = new LoginGuard(ctx.redis, ctx.config.redis.prefix, ctx.config.auth);
  // The limit keys on the tenant the code resolves to: "beta", " BETA" and "béta" name one tenant (the
  // column's collation) and share one budget. Unknown codes share one bucket per IP.
  const resolveTenant: RequestHandler = async (req, res, next) => {
    const code = (req.body as { tenant_code?: unknown } | undefined)?.tenant_code;
    res.locals.loginTenant = typeof code === 'string' && code.trim() ? await findTenantByCode(ctx.db, code.trim()) : undefined;
    next();
  };
  const loginLimit = loginRateLimit(ctx, 'login', (_req, res) => (res.locals.loginTenant as TenantRow | undefined)?.id ?? 'unknown-tenant');
  // Refresh tokens cannot be guessed, so their limit only stops runaway clients (many share an office IP).
  const refreshLimit = loginRateLimit(ctx, 'refresh', () => '', ctx.config.auth.loginRatePerMinute * 10);
  const platformLimit = loginRateLimit(ctx, 'platform-login', () => 'platform');

  router.post('/api/v1/auth/login', json, resolveTenant, loginLimit, async (req, res) => {
    const input = body(req, LoginBodyWithSession);
    const tokens = await login(
      { db: ctx.db, guard, config: ctx.config },
      { tenant: res.locals.loginTenant as TenantRow | undefined, tenantCode: input.tenant_code, username: input.username, password: input.password, ip: requestIp(req) },
      sessionAudit(req),
    );
    res.json(input.session === 'cookie' ? intoCookie(req, res, tokens) : tokens);
  });

  router.post('/api/v1/auth/refresh', json, refreshLimit, async (req, res) => {
    const input = body(req, RefreshBody);
    if (input.refresh_token) {
      res.json(await refreshSession(ctx.db, ctx.config, input.refresh_token, requestIp(req), sessionAudit(req)));
      return;
    }
    assertJsonRequest(req);
    const fromCookie = refreshCookieOf(req);
    if (!fromCookie) throw new UnauthorizedError('no refresh token (body or cookie)', 'invalid_refresh_token');
    try {
      res.json(intoCookie(req, res, await refreshSession(ctx.db, ctx.config, fromCookie, requestIp(req), sessionAudit(req))));
    } catch (err) {
      clearRefreshCookie(req, res);
      throw err;
    }
  });

  router.post('/api/v1/auth/logout', json, async (req, res) => {
    const input = body(req, RefreshBody);
    const token = input.refresh_token ?? refreshCookieOf(req);
    if (!token) throw new ValidationError([{ field: 'body.refresh_token', message: 'a refresh token (body or cookie) is required' }]);
    await logout(ctx.db, token, sessionAudit(req));
    clearRefreshCookie(req, res);
    res.status(204).end();
  });

  router.post('/api/v1/platform/login', json, platformLimit, async (req, res) => {
    const input = body(req, PlatformLoginBody);
    if (!checkPlatformAdmin(ctx.config.auth, input.username, input.password)) {
      throw new UnauthorizedError('invalid username or password', 'invalid_credentials');
    }
    await auditAs(ctx.db, req, { tenantId: null, actorType: 'platform', actorId: ctx.config.auth.platformAdmin.username }, 'platform.login', { type: 'platform' });
    res.json({ access_token: platformAccessToken(ctx.config.auth), token_type: 'Bearer', expires_in: ctx.config.auth.accessTokenTtl });
  });
  return router;
}

/** `GET /auth/me` and `POST /auth/password`, behind authentication. */
export function authRouter(ctx: AppContext): Router {
  const router = Router();
  const guard = new LoginGuard(ctx.redis, ctx.config.redis.prefix, ctx.config.auth);
  router.post('/auth/password', async (req, res) => {
    const p = principalOf(req);
    if (p.kind !== 'user') throw new ForbiddenError('only an operator has a password to change', 'operator_required');
    const input = body(req, ChangePasswordBody);
    const tokens = await changePassword(
      { db: ctx.db, guard, config: ctx.config },
      { userId: p.id, currentPassword: input.current_password, newPassword: input.new_password, ip: requestIp(req) },
      sessionAudit(req),
    );
    ctx.realtime.endSessions({ userId: p.id });
    res.json(input.session === 'cookie' ? intoCookie(req, res, tokens) : tokens);
  });
  router.get('/auth/me', async (req, res) => {
    const p = principalOf(req);
    const tenant = p.tenantId ? ((await findTenant(ctx.db, p.tenantId)) ?? null) : null;
    let user = null;
    if (p.kind === 'user') {
      const row = await ctx.db('users').where({ id: p.id }).first();
      [user] = await withRoles(ctx.db, [row]);
    }
    const apiKey = p.kind === 'api_key' && p.tenantId ? ((await getApiKey(ctx.db, p.tenantId, p.id)) ?? null) : null;
    res.json({ kind: p.kind, id: p.id, tenant, user: user ?? null, api_key: apiKey, permissions: [...p.permissions].sort() });
  });
  return router;
}
