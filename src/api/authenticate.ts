import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Knex } from 'knex';
import { verifyAccessToken } from '../auth/access-tokens';
import { SESSION_STATUSES } from '../auth/sessions';
import { sha256Hex } from '../auth/secrets';
import type { Config } from '../config';
import { hasPermission, type Permission } from '../domain/permissions';
import { findApiKeyByHash, loadUserAccess, touchApiKey } from '../db/principals';
import { getTenantStatus } from '../db/tenants';
import { ForbiddenError, UnauthorizedError } from '../errors';
import type { Principal } from './principal';

export const API_KEY_PREFIX = 'wwp_';

function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key.trim() : undefined;
}

/** Resolves a bearer credential (JWT access token or API key) to a principal, or throws 401/403. */
export async function resolvePrincipal(db: Knex, config: Config, credential: string): Promise<Principal> {
  if (credential.startsWith(API_KEY_PREFIX)) {
    const key = await findApiKeyByHash(db, sha256Hex(credential));
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt.getTime() < Date.now())) {
      throw new UnauthorizedError('invalid or revoked API key', 'invalid_api_key');
    }
    await assertTenantActive(db, key.tenantId);
    void touchApiKey(db, key.id).catch(() => undefined);
    return { kind: 'api_key', id: key.id, tenantId: key.tenantId, permissions: new Set(key.permissions), expiresAt: key.expiresAt ?? undefined };
  }
  const claims = verifyAccessToken(config.auth, credential);
  if (!claims) throw new UnauthorizedError('invalid or expired access token', 'invalid_token');
  if (claims.kind === 'platform') {
    return { kind: 'platform', id: claims.sub, permissions: new Set() };
  }
  // Read on every request (no cache), so a deactivation or password reset ends tokens at once. A login
  // lock does not: it only blocks new logins, or anyone could end a victim's sessions by guessing.
  const access = await loadUserAccess(db, claims.sub);
  if (!access || access.tenantId !== claims.tid || !SESSION_STATUSES.has(access.status)) {
    throw new UnauthorizedError('user is not active', 'invalid_token');
  }
  if (claims.ver !== access.tokenVersion) throw new UnauthorizedError('access token was revoked (password changed)', 'invalid_token');
  await assertTenantActive(db, access.tenantId);
  return { kind: 'user', id: claims.sub, tenantId: access.tenantId, permissions: new Set(access.permissions), expiresAt: new Date(claims.exp * 1000) };
}

async function assertTenantActive(db: Knex, tenantId: string): Promise<void> {
  const status = await getTenantStatus(db, tenantId);
  if (status === 'suspended') throw new ForbiddenError('tenant is suspended', 'tenant_suspended');
  if (status !== 'active') throw new UnauthorizedError('tenant does not exist', 'invalid_token');
}

export function authenticate(db: Knex, config: Config): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const credential = bearer(req);
    if (!credential) return next(new UnauthorizedError());
    try {
      req.principal = await resolvePrincipal(db, config, credential);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** Guards a tenant route with one named permission. */
export function requirePermission(permission: Permission): RequestHandler {
  return (req, _res, next) => {
    const p = req.principal;
    if (!p) return next(new UnauthorizedError());
    if (p.kind === 'platform' || !p.tenantId) {
      return next(new ForbiddenError('platform admin cannot act inside a tenant', 'tenant_required'));
    }
    if (!hasPermission(p.permissions, permission)) {
      return next(new ForbiddenError(`missing permission ${permission}`, 'forbidden', { permission }));
    }
    next();
  };
}

export function requirePlatformAdmin(): RequestHandler {
  return (req, _res, next) => {
    if (req.principal?.kind !== 'platform') return next(new ForbiddenError('platform admin only', 'forbidden'));
    next();
  };
}
