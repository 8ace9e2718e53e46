import type { Knex } from 'knex';
import { parseJson, toJson } from './json';

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

export interface AuditFilters {
  action?: string;
  targetType?: string;
  targetId?: string;
  actorId?: string;
  actorType?: string;
  from?: Date;
  to?: Date;
}

/** Audit rows of one tenant (or of the whole platform when tenantId is null), newest first via paginate. */
export function auditQuery(db: Knex, tenantId: string | null, f: AuditFilters): Knex.QueryBuilder {
  const q = db('audit_logs');
  if (tenantId !== null) q.where({ tenant_id: tenantId });
  if (f.action) {
    // `user.*` matches every user action.
    if (f.action.endsWith('.*')) q.where('action', 'like', `${f.action.slice(0, -1).replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
    else q.where({ action: f.action });
  }
  if (f.targetType) q.where({ target_type: f.targetType });
  if (f.targetId) q.where({ target_id: f.targetId });
  if (f.actorId) q.where({ actor_id: f.actorId });
  if (f.actorType) q.where({ actor_type: f.actorType });
  if (f.from) q.where('created_at', '>=', f.from);
  if (f.to) q.where('created_at', '<', f.to);
  return q;
}

export function decodeAudit(row: Record<string, unknown>): Record<string, unknown> {
  return { ...row, id: String(row.id), details: parseJson(row.details, null) };
}
