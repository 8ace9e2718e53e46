import type { Knex } from 'knex';

/**
 * The delivery log: one row per request to an endpoint (one event, or a batch of message events). The
 * row id is the `webhook-id` header, the same on every attempt, so receivers deduplicate on it.
 */
type Db = Knex | Knex.Transaction;

export const DELIVERY_COLUMNS = ['id', 'endpoint_id', 'event_type', 'event_count', 'status', 'attempts', 'next_attempt_at', 'last_attempt_at', 'last_status_code', 'last_latency_ms', 'last_response', 'last_error', 'created_at', 'completed_at'];

export interface NewDelivery {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_type: string;
  event_count: number;
  body: string;
}

export async function insertDeliveries(db: Db, rows: NewDelivery[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await db('webhook_deliveries').insert(rows.slice(i, i + 500));
}

export function deliveriesQuery(db: Db, tenantId: string, endpointId: string, status?: string): Knex.QueryBuilder {
  const q = db('webhook_deliveries').select(DELIVERY_COLUMNS).where({ tenant_id: tenantId, endpoint_id: endpointId });
  if (status) q.andWhere({ status });
  return q;
}

export async function getDelivery(db: Db, tenantId: string, endpointId: string, id: string): Promise<Record<string, unknown> | undefined> {
  return db('webhook_deliveries').select([...DELIVERY_COLUMNS, 'body']).where({ tenant_id: tenantId, endpoint_id: endpointId, id }).first();
}

/** How long an attempt may hold its claim before the sweeper hands the delivery to another worker. */
export const ATTEMPT_LEASE_MS = 60_000;

/**
 * Claims attempt `attempt` of some deliveries in one transaction: only pending rows still at that attempt
 * count are taken (SKIP LOCKED: a row another worker holds is its), so a duplicate or stale job does
 * nothing. Each claimed row's next_attempt_at becomes a lease the sweeper honours.
 */
export async function claimAttempts(db: Knex, ids: string[], attempt: number): Promise<Array<{ id: string; endpoint_id: string; body: string }>> {
  if (ids.length === 0) return [];
  return db.transaction(async (trx) => {
    const [rows] = (await trx.raw(
      `SELECT id, endpoint_id, body FROM webhook_deliveries WHERE id IN (${ids.map(() => '?').join(',')}) AND status = 'pending' AND attempts = ? FOR UPDATE SKIP LOCKED`,
      [...ids, attempt],
    )) as [Array<{ id: string; endpoint_id: string; body: string }>];
    if (rows.length) {
      await trx('webhook_deliveries')
        .whereIn('id', rows.map((r) => r.id))
        .update({ attempts: attempt + 1, last_attempt_at: new Date(), next_attempt_at: new Date(Date.now() + ATTEMPT_LEASE_MS) });
    }
    return rows;
  });
}

export interface AttemptRecord {
  id: string;
  status: 'pending' | 'succeeded' | 'failed';
  nextAttemptAt?: Date;
  statusCode: number | null;
  latencyMs: number | null;
  excerpt: string | null;
  error: string | null;
}

/** Records the outcomes of one claim's attempts in one multi-row UPDATE (conditional on the attempt count). */
export async function recordAttempts(db: Db, attemptsAfter: number, records: AttemptRecord[]): Promise<void> {
  if (records.length === 0) return;
  const now = new Date();
  const caseOf = (value: (r: AttemptRecord) => unknown) => {
    const bindings: unknown[] = [];
    for (const r of records) bindings.push(r.id, value(r));
    return { sql: `CASE id ${records.map(() => 'WHEN ? THEN ?').join(' ')} END`, bindings };
  };
  const cols: Array<[string, ReturnType<typeof caseOf>]> = [
    ['status', caseOf((r) => r.status)],
    ['next_attempt_at', caseOf((r) => r.nextAttemptAt ?? now)],
    ['last_status_code', caseOf((r) => r.statusCode)],
    ['last_latency_ms', caseOf((r) => r.latencyMs)],
    ['last_response', caseOf((r) => r.excerpt?.slice(0, 500) ?? null)],
    ['last_error', caseOf((r) => r.error?.slice(0, 500) ?? null)],
    ['completed_at', caseOf((r) => (r.status === 'pending' ? null : now))],
  ];
  await db.raw(
    `UPDATE webhook_deliveries SET ${cols.map(([c, v]) => `${c} = ${v.sql}`).join(', ')} WHERE id IN (${records.map(() => '?').join(',')}) AND attempts = ?`,
    [...cols.flatMap(([, v]) => v.bindings), ...records.map((r) => r.id), attemptsAfter] as Knex.RawBinding[],
  );
}

/** Manual re-delivery: the row goes back to pending, due now; its attempt count goes on. */
export async function resetForRedelivery(db: Db, tenantId: string, id: string): Promise<number | undefined> {
  const row = await db('webhook_deliveries').select('attempts').where({ tenant_id: tenantId, id }).forUpdate().first();
  if (!row) return undefined;
  await db('webhook_deliveries').where({ id }).update({ status: 'pending', next_attempt_at: new Date(), completed_at: null });
  return Number(row.attempts);
}

/** Pending deliveries due for a while (their job was lost, or their worker died mid-attempt). */
export async function overdueDeliveries(db: Knex, olderThanMs: number, limit: number): Promise<Array<{ id: string; attempts: number; next_attempt_at: Date }>> {
  return db('webhook_deliveries')
    .select('id', 'attempts', 'next_attempt_at')
    .where({ status: 'pending' })
    .andWhere('next_attempt_at', '<=', new Date(Date.now() - olderThanMs))
    .orderBy('next_attempt_at')
    .limit(limit);
}

/** Pending deliveries of an endpoint fail when it is disabled (they would never be sent). */
export async function failPendingOf(db: Db, endpointId: string, reason: string): Promise<number> {
  return db('webhook_deliveries').where({ endpoint_id: endpointId, status: 'pending' }).update({ status: 'failed', last_error: reason.slice(0, 500), completed_at: new Date() });
}
