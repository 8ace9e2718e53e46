import type { Request } from 'express';
import type { Knex } from 'knex';
import { recordAudit, type AuditEntry } from '../../db/audit';
import { principalOf } from '../principal';

/**
 * Audit rows for requests that have no tenant principal to take the tenant from: logins (the actor is
 * known only after the password check) and platform actions (recorded under the affected tenant).
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

/** A platform admin action on one tenant: the row belongs to that tenant's audit trail. */
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
