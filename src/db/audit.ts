import type { Knex } from 'knex';
import { toJson } from './json';

export interface AuditEntry {
  tenantId?: string | null;
  actorType: 'user' | 'api_key' | 'platform' | 'system';
  actorId?: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  details?: unknown;
}

/** Appends one audit row; pass the transaction so the record commits (or not) with the change it describes. */
export async function recordAudit(db: Knex | Knex.Transaction, e: AuditEntry): Promise<void> {
  await db('audit_logs').insert({
    tenant_id: e.tenantId ?? null,
    actor_type: e.actorType,
    actor_id: e.actorId ?? null,
    action: e.action,
    target_type: e.targetType ?? null,
    target_id: e.targetId ?? null,
    ip: e.ip ?? null,
    user_agent: e.userAgent?.slice(0, 500) ?? null,
    request_id: e.requestId ?? null,
    details: toJson(e.details),
  });
}
