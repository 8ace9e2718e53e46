import type { Knex } from 'knex';

/**
 * The reads behind the console's dashboard, each on an index that leads with the tenant (or time):
 * accounts by status, today's messages by status, running and paused tasks, and the last day's alerts.
 */
export async function accountsByStatus(db: Knex, tenantId: string): Promise<Record<string, number>> {
  const rows: Array<{ status: string; n: number }> = await db('wework_accounts').select('status').count({ n: '*' }).where({ tenant_id: tenantId }).groupBy('status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function messagesByStatusSince(db: Knex, tenantId: string, since: Date): Promise<Record<string, number>> {
  const rows: Array<{ status: string; n: number }> = await db('messages').select('status').count({ n: '*' }).where({ tenant_id: tenantId }).andWhere('created_at', '>=', since).groupBy('status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function activeTasks(db: Knex, tenantId: string, limit: number): Promise<Array<Record<string, unknown>>> {
  return db('batch_send_tasks').where({ tenant_id: tenantId }).whereIn('status', ['running', 'paused']).orderBy('created_at', 'desc').limit(limit);
}

export interface Alert {
  kind: 'account' | 'task' | 'callback';
  id: string;
  status: string;
  message: string | null;
  at: Date;
}

export async function recentAlerts(db: Knex, tenantId: string, since: Date, limit: number): Promise<Alert[]> {
  const accounts: Array<{ account_id: string; new_status: string; reason: string | null; error_message: string | null; created_at: Date }> = await db('account_status_history')
    .select('account_id', 'new_status', 'reason', 'error_message', 'created_at')
    .where({ tenant_id: tenantId })
    .whereIn('new_status', ['offline', 'error'])
    .andWhere('created_at', '>=', since)
    .orderBy('created_at', 'desc')
    .limit(limit);
  const tasks: Array<{ id: string; error_message: string | null; updated_at: Date }> = await db('batch_send_tasks')
    .select('id', 'error_message', 'updated_at')
    .where({ tenant_id: tenantId, status: 'paused' })
    .andWhere('updated_at', '>=', since)
    .orderBy('updated_at', 'desc')
    .limit(limit);
  const callbacks: Array<{ id: string; event_type: string; error_message: string | null; received_time: Date }> = await db('callback_events')
    .select('id', 'event_type', 'error_message', 'received_time')
    .where({ tenant_id: tenantId, status: 'failed' })
    .andWhere('received_time', '>=', since)
    .orderBy('received_time', 'desc')
    .limit(limit);
  const all: Alert[] = [
    ...accounts.map((a) => ({ kind: 'account' as const, id: a.account_id, status: a.new_status, message: a.error_message ?? a.reason, at: a.created_at })),
    ...tasks.map((t) => ({ kind: 'task' as const, id: t.id, status: 'paused', message: t.error_message, at: t.updated_at })),
    ...callbacks.map((c) => ({ kind: 'callback' as const, id: c.id, status: 'failed', message: c.error_message ?? c.event_type, at: c.received_time })),
  ];
  return all.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, limit);
}
