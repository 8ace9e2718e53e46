import type { Request } from 'express';
import { ForbiddenError, UnauthorizedError } from '../errors';

/** Who is calling. Tenant principals (user, api_key) always carry their tenant; the platform admin has none. */
export interface Principal {
  kind: 'user' | 'api_key' | 'platform';
  id: string;
  tenantId?: string;
  permissions: ReadonlySet<string>;
  /** When the credential stops working by itself (access token expiry, API key expires_at). */
  expiresAt?: Date;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    requestId?: string;
  }
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new UnauthorizedError();
  return req.principal;
}

/** The caller's tenant id: every tenant-owned query is scoped by this, never by an id from the request. */
export function tenantIdOf(req: Request): string {
  const p = principalOf(req);
  if (!p.tenantId) throw new ForbiddenError('this route needs a tenant principal', 'tenant_required');
  return p.tenantId;
}

/** The operator behind the request, or null for an API key (history rows name people, not keys). */
export function operatorIdOf(req: Request): string | null {
  const p = principalOf(req);
  return p.kind === 'user' ? p.id : null;
}

/** Audit actor fields for the caller. */
export function actorOf(req: Request): { actorType: 'user' | 'api_key' | 'platform'; actorId: string } {
  const p = principalOf(req);
  return { actorType: p.kind, actorId: p.id };
}
