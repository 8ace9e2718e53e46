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

/** New deliveries are due at once (next_attempt_at from this clock, as every later lease and retry). */
export async function insertDeliveries(db: Db, rows: NewDelivery[], now = new Date()): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await db('webhook_deliveries').insert(rows.slice(i, i + 500).map((r) => ({ ...r, next_attempt_at: now })));
}

export function deliveriesQuery(db: Db, tenantId: string, endpointId: string, status?: string): Knex.QueryBuilder {
  const q = db('webhook_deliveries').select(DELIVERY_COLUMNS).where({ tenant_id: tenantId, endpoint_id: endpointId });
  if (status) q.andWhere({ status });
  return q;
}

export async function getDelivery(db: Db, tenantId: string, endpointId: string, id: string): Promise<Record<string, unknown> | undefined> {
  return db('webhook_deliveries').select([...DELIVERY_COLUMNS, 'body']).where({ tenant_id: tenantId, endpoint_id: endpointId, id }).first();
}

export interface ClaimedDelivery {
  id: string;
  endpoint_id: string;
  body: string;
  /** The attempt count after this claim (the attempt being made). */
  attempts: number;
}

export interface ClaimOptions {
  /** Most deliveries to take. */
  limit: number;
  /** How many more in-flight requests each endpoint may have in this process; endpoints not listed may have `perEndpoint`. */
  roomOf: (endpointId: string) => number;
  /** Endpoints with no room: not even looked at. */
  full: string[];
  /** The claim holds until then; a delivery whose worker died is due again when it passes. */
  leaseUntil: Date;
  now?: Date;
}

/**
 * Claims due deliveries in one transaction: pending rows whose next attempt (or expired lease) is due,
 * oldest first, SKIP LOCKED so several workers share them, at most `roomOf(endpoint)` per endpoint so a
 * hanging endpoint cannot take every slot. The claim counts the attempt and sets a lease in
 * next_attempt_at. READ COMMITTED: rows scanned but not taken are not left locked.
 */
export async function claimDueDeliveries(db: Knex, opts: ClaimOptions): Promise<ClaimedDelivery[]> {
  if (opts.limit <= 0) return [];
  const now = opts.now ?? new Date();
  const due = `status = 'pending' AND next_attempt_at <= ?${opts.full.length ? ` AND endpoint_id NOT IN (${opts.full.map(() => '?').join(',')})` : ''}`;
  // A poll that finds nothing is one plain read, not a locking transaction.
  const [probe] = (await db.raw(`SELECT 1 FROM webhook_deliveries WHERE ${due} LIMIT 1`, [now, ...opts.full])) as [unknown[]];
  if (probe.length === 0) return [];
  return db.transaction(
    async (trx) => {
      const [rows] = (await trx.raw(`SELECT id, endpoint_id, body, attempts FROM webhook_deliveries WHERE ${due} ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED`, [
        now,
        ...opts.full,
        opts.limit,
      ])) as [Array<{ id: string; endpoint_id: string; body: string; attempts: number }>];
      const taken = takeWithRoom(rows, opts.roomOf);
      if (taken.length) {
        await trx.raw(`UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, next_attempt_at = ? WHERE id IN (${taken.map(() => '?').join(',')})`, [
          now,
          opts.leaseUntil,
          ...taken.map((r) => r.id),
        ]);
      }
      return taken.map((r) => ({ id: r.id, endpoint_id: r.endpoint_id, body: r.body, attempts: Number(r.attempts) + 1 }));
    },
    { isolationLevel: 'read committed' },
  );
}

/** Pure: the rows, in order, that fit each endpoint's room. */
export function takeWithRoom<T extends { endpoint_id: string }>(rows: T[], roomOf: (endpointId: string) => number): T[] {
  const used = new Map<string, number>();
  return rows.filter((r) => {
    const n = used.get(r.endpoint_id) ?? 0;
    if (n >= roomOf(r.endpoint_id)) return false;
    used.set(r.endpoint_id, n + 1);
    return true;
  });
}

export interface AttemptRecord {
  id: string;
  /** The attempt count its claim set; a record for an older attempt (the lease ran out and another worker took it) is ignored. */
  attempts: number;
  status: 'pending' | 'succeeded' | 'failed';
  nextAttemptAt?: Date;
  statusCode: number | null;
  latencyMs: number | null;
  excerpt: string | null;
  error: string | null;
}

/** Records the outcomes of many attempts in one multi-row UPDATE (each conditional on its attempt count): the group commit. */
export async function recordAttempts(db: Db, records: AttemptRecord[]): Promise<void> {
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
  const attempts = caseOf((r) => r.attempts);
  await db.raw(
    `UPDATE webhook_deliveries SET ${cols.map(([c, v]) => `${c} = ${v.sql}`).join(', ')} WHERE id IN (${records.map(() => '?').join(',')}) AND attempts = ${attempts.sql}`,
    [...cols.flatMap(([, v]) => v.bindings), ...records.map((r) => r.id), ...attempts.bindings] as Knex.RawBinding[],
  );
}

/** Manual re-delivery: the row goes back to pending, due now (the delivery workers' next claim takes it); its attempt count goes on. */
export async function resetForRedelivery(db: Db, tenantId: string, id: string): Promise<boolean> {
  const n = await db('webhook_deliveries').where({ tenant_id: tenantId, id }).update({ status: 'pending', next_attempt_at: new Date(), completed_at: null });
  return n > 0;
}

/** Pending deliveries of an endpoint fail when it is disabled (they would never be sent). */
export async function failPendingOf(db: Db, endpointId: string, reason: string): Promise<number> {
  return db('webhook_deliveries').where({ endpoint_id: endpointId, status: 'pending' }).update({ status: 'failed', last_error: reason.slice(0, 500), completed_at: new Date() });
}
