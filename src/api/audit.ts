import type { Request } from 'express';
import type { Knex } from 'knex';
import { recordAudit } from '../db/audit';
import { principalOf } from './principal';

/** Writes the audit row for a state-changing request: who (principal), from where (ip, agent), what and on what. */
export function auditRequest(
  db: Knex | Knex.Transaction,
  req: Request,
  action: string,
  target: { type: string; id?: string },
  details?: unknown,
): Promise<void> {
  const p = principalOf(req);
  return recordAudit(db, {
    tenantId: p.tenantId ?? null,
    actorType: p.kind,
    actorId: p.id,
    action,
    targetType: target.type,
    targetId: target.id,
    ip: req.ip,
    userAgent: req.get('user-agent'),
    requestId: req.requestId,
    details,
  });
}
