import type { Request } from 'express';
import type { Knex } from 'knex';
import { recordAudit, type AuditEntry } from '../db/audit';
import { principalOf } from './principal';

/**
 * Audit rows for requests: who (actor), from where (ip, agent, request id), what and on what. Pass
 * the transaction so the row commits with the change it records.
 */
export function auditAs(
  db: Knex | Knex.Transaction,
  req: Request,
  actor: { tenantId: string | null; actorType: AuditEntry['actorType']; actorId: string | null },
  action: string,
  target: { type: string; id?: string },
  details?: unknown,
): Promise<void> {
  return recordAudit(db, {
    tenantId: actor.tenantId,
    actorType: actor.actorType,
    actorId: actor.actorId,
    action,
    targetType: target.type,
    targetId: target.id,
    ip: req.ip,
    userAgent: req.get('user-agent'),
    requestId: req.requestId,
    details,
  });
}

/** The common case: the authenticated caller acting inside its own tenant. */
export function auditRequest(
  db: Knex | Knex.Transaction,
  req: Request,
  action: string,
  target: { type: string; id?: string },
  details?: unknown,
): Promise<void> {
  const p = principalOf(req);
  return auditAs(db, req, { tenantId: p.tenantId ?? null, actorType: p.kind, actorId: p.id }, action, target, details);
}

/**
 * A platform admin action on one tenant: the row belongs to that tenant's audit trail. (Logins use
 * `auditAs` directly: the actor is known only after the password check.)
 */
export function auditPlatform(
  db: Knex | Knex.Transaction,
  req: Request,
  tenantId: string,
  action: string,
  target: { type: string; id?: string },
  details?: unknown,
): Promise<void> {
  const p = principalOf(req);
  return auditAs(db, req, { tenantId, actorType: p.kind, actorId: p.id }, action, target, details);
}
