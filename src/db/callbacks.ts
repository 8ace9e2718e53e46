import type { Knex } from 'knex';
import { createPool } from 'mysql2/promise';
import { withDeadlockRetry } from './deadlock-retry';
import type { Config } from '../config';
import { newId } from './ids';
import { parseJson, toJson } from './json';

/**
 * callback_events (partitioned by received_time; PK (id, received_time)), its replay guard
 * callback_event_keys, and wecom_callback_configs. All SQL of the callback pipeline lives here.
 */
export type CallbackStatus = 'received' | 'processing' | 'processed' | 'failed' | 'ignored';

export interface NewCallbackEvent {
  /** sha256 hex of source + event id; a second event with the same key is a replay. */
  eventKey: string;
  guid: string;
  notifyType: number;
  eventType: string;
  rawData: string;
  sourceIp?: string | null;
  userAgent?: string | null;
  /** Known up front for WeCom official callbacks; otherwise looked up from wework_accounts by guid. */
  tenantId?: string | null;
}

export interface StoredOutcome {
  id: string;
  duplicate: boolean;
}

export interface CallbackEventRow {
  id: string;
  tenant_id: string | null;
  guid: string;
  notify_type: number;
  event_type: string;
  raw_data: string;
  parsed_data: unknown;
  status: CallbackStatus;
  error_message: string | null;
  retry_count: number;
  process_time: Date | null;
  received_time: Date;
  source_ip: string | null;
  user_agent: string | null;
}

/**
 * Gives each event an id; a replay key seen earlier in the batch reuses the first delivery's id. Keys
 * come back sorted so concurrent batches lock replay keys in the same order (no lock-order deadlocks).
 */
function assignIdsByKey(events: NewCallbackEvent[]): { ids: string[]; firstByKey: Map<string, string>; keys: string[] } {
  const firstByKey = new Map<string, string>();
  const ids = events.map((e) => {
    const seen = firstByKey.get(e.eventKey);
    if (seen) return seen;
    const id = newId();
    firstByKey.set(e.eventKey, id);
    return id;
  });
  return { ids, firstByKey, keys: [...firstByKey.keys()].sort() };
}

/**
 * Stores a batch of events in one transaction: replay keys first (INSERT IGNORE), then the events whose
 * keys this transaction won. Returns one outcome per input, in order; a replay (in the table or earlier
 * in the same batch) gets the id of the first delivery and `duplicate: true`.
 */
export async function insertCallbackEvents(db: Knex, events: NewCallbackEvent[]): Promise<StoredOutcome[]> {
  if (events.length === 0) return [];
  const { ids, firstByKey, keys } = assignIdsByKey(events);

  return withDeadlockRetry(() => db.transaction(async (trx) => {
    const [inserted] = (await trx.raw(
      `INSERT IGNORE INTO callback_event_keys (event_key, callback_id) VALUES ${keys.map(() => '(?, ?)').join(', ')}`,
      keys.flatMap((k) => [k, firstByKey.get(k)!]),
    )) as [{ affectedRows: number }];
    // Every key new (the common case): all ours. Otherwise a locking read tells which earlier delivery
    // owns each replayed key (it sees the latest committed row, not this transaction's snapshot).
    const ownerByKey = new Map<string, string>();
    if (inserted.affectedRows !== keys.length) {
      const [owners] = (await trx.raw(
        `SELECT event_key, callback_id FROM callback_event_keys WHERE event_key IN (${keys.map(() => '?').join(', ')}) LOCK IN SHARE MODE`,
        keys,
      )) as [Array<{ event_key: string; callback_id: string }>];
      for (const o of owners) ownerByKey.set(o.event_key, o.callback_id);
    }

    const fresh: Array<{ id: string; e: NewCallbackEvent }> = [];
    const outcomes = events.map((e, i): StoredOutcome => {
      const owner = ownerByKey.get(e.eventKey) ?? ids[i];
      const ours = owner === firstByKey.get(e.eventKey);
      const firstInBatch = ids.indexOf(ids[i]) === i;
      if (ours && firstInBatch) fresh.push({ id: ids[i], e });
      return { id: owner, duplicate: !(ours && firstInBatch) };
    });

    if (fresh.length > 0) {
      // tenant_id: a scalar subquery per row resolves the guid's tenant in the same round trip.
      const row = '(?, COALESCE(?, (SELECT a.tenant_id FROM wework_accounts a WHERE a.guid = ?)), ?, ?, ?, ?, ?, ?, ?)';
      await trx.raw(
        `INSERT INTO callback_events (id, tenant_id, guid, notify_type, event_type, raw_data, source_ip, user_agent, status)
         VALUES ${fresh.map(() => row).join(', ')}`,
        fresh.flatMap(({ id, e }) => [
          id,
          e.tenantId ?? null,
          e.guid,
          e.guid,
          e.notifyType,
          e.eventType,
          e.rawData,
          e.sourceIp?.slice(0, 45) ?? null,
          e.userAgent?.slice(0, 1000) ?? null,
          'received',
        ]),
      );
    }
    return outcomes;
  }), 3);
}

export async function getCallbackEvent(db: Knex, id: string): Promise<CallbackEventRow | undefined> {
  const row = await db('callback_events').where({ id }).first();
  return row ? normalize(row) : undefined;
}

function normalize(row: Record<string, unknown>): CallbackEventRow {
  return { ...(row as unknown as CallbackEventRow), parsed_data: parseJson(row.parsed_data, null) };
}

/**
 * received/failed → processing, only if still in one of those states: two deliveries of the same job
 * (or a job and a sweeper re-enqueue) race here and exactly one wins. process_time marks the claim so
 * the sweeper can tell a stuck claim from a live one.
 */
export async function claimCallbackEvent(db: Knex, id: string): Promise<boolean> {
  const n = await db('callback_events')
    .where({ id })
    .whereIn('status', ['received', 'failed'])
    .update({ status: 'processing', process_time: db.raw('CURRENT_TIMESTAMP(3)') });
  return n > 0;
}

/** processing → processed/ignored; false when the claim was lost meanwhile (the sweeper took it back). */
export async function finishCallbackEvent(
  db: Knex | Knex.Transaction,
  id: string,
  outcome: { status: 'processed' | 'ignored'; tenantId?: string | null; parsed?: unknown; note?: string | null },
): Promise<boolean> {
  const n = await db('callback_events')
    .where({ id, status: 'processing' })
    .update({
      status: outcome.status,
      process_time: db.raw('CURRENT_TIMESTAMP(3)'),
      error_message: outcome.note ?? null,
      ...(outcome.parsed !== undefined ? { parsed_data: toJson(outcome.parsed) } : {}),
      ...(outcome.tenantId ? { tenant_id: outcome.tenantId } : {}),
    });
  return n > 0;
}

/** A failed attempt: failed with the error, one more retry counted; the queue decides whether to retry. */
export async function failCallbackEvent(db: Knex, id: string, error: string): Promise<void> {
  await db('callback_events')
    .where({ id, status: 'processing' })
    .update({
      status: 'failed',
      error_message: error.slice(0, 5000),
      retry_count: db.raw('retry_count + 1'),
      process_time: db.raw('CURRENT_TIMESTAMP(3)'),
    });
}

export async function setCallbackTenant(db: Knex, id: string, tenantId: string): Promise<void> {
  await db('callback_events').where({ id }).whereNull('tenant_id').update({ tenant_id: tenantId });
}

/**
 * One page of events still `received` before `before` (the queue may have lost them: enqueue failed,
 * Redis was down), oldest first, after the keyset cursor `after`.
 */
export async function findReceivedBefore(
  db: Knex,
  before: Date,
  limit: number,
  after?: { t: Date; id: string },
): Promise<Array<{ id: string; receivedTime: Date }>> {
  const q = db('callback_events').select('id', 'received_time').where('status', 'received').andWhere('received_time', '<', before);
  if (after) q.andWhere((w) => w.where('received_time', '>', after.t).orWhere((x) => x.where('received_time', '=', after.t).andWhere('id', '>', after.id)));
  const rows = (await q.orderBy('received_time', 'asc').orderBy('id', 'asc').limit(limit)) as Array<{ id: string; received_time: Date }>;
  return rows.map((r) => ({ id: r.id, receivedTime: r.received_time }));
}

/**
 * Claims older than `before` belong to workers that died mid-job: put them back to received (each with
 * a conditional update, so a worker that finishes meanwhile wins) and return their ids.
 */
export async function releaseStuckClaims(db: Knex, before: Date, limit: number): Promise<string[]> {
  const stuck = (await db('callback_events')
    .select('id')
    .where('status', 'processing')
    .andWhere('process_time', '<', before)
    .limit(limit)) as Array<{ id: string }>;
  const released: string[] = [];
  for (const { id } of stuck) {
    const n = await db('callback_events').where({ id, status: 'processing' }).andWhere('process_time', '<', before).update({ status: 'received' });
    if (n > 0) released.push(id);
  }
  return released;
}

export interface CallbackListFilter {
  tenantId: string;
  status?: CallbackStatus;
  notifyType?: number;
  guid?: string;
  eventType?: string;
  from?: Date;
  to?: Date;
  cursor?: { t: Date; id: string };
  limit: number;
}

export const CALLBACK_LIST_COLUMNS = [
  'id',
  'tenant_id',
  'guid',
  'notify_type',
  'event_type',
  'status',
  'error_message',
  'retry_count',
  'process_time',
  'received_time',
  'source_ip',
] as const;

/** One keyset page of a tenant's events, newest first (received_time desc, id desc). */
export async function listCallbackEvents(db: Knex, f: CallbackListFilter): Promise<Array<Record<string, unknown>>> {
  const q = db('callback_events').select(...CALLBACK_LIST_COLUMNS).where('tenant_id', f.tenantId);
  if (f.status) q.andWhere('status', f.status);
  if (f.notifyType !== undefined) q.andWhere('notify_type', f.notifyType);
  if (f.guid) q.andWhere('guid', f.guid);
  if (f.eventType) q.andWhere('event_type', f.eventType);
  if (f.from) q.andWhere('received_time', '>=', f.from);
  if (f.to) q.andWhere('received_time', '<', f.to);
  if (f.cursor) {
    const c = f.cursor;
    q.andWhere((w) => w.where('received_time', '<', c.t).orWhere((x) => x.where('received_time', '=', c.t).andWhere('id', '<', c.id)));
  }
  return q.orderBy('received_time', 'desc').orderBy('id', 'desc').limit(f.limit);
}

export async function getTenantCallbackEvent(db: Knex, tenantId: string, id: string): Promise<CallbackEventRow | undefined> {
  const row = await db('callback_events').where({ id, tenant_id: tenantId }).first();
  return row ? normalize(row) : undefined;
}

/** failed → received for a re-drive; returns whether this call moved it (a concurrent re-drive loses). */
export async function resetFailedCallbackEvent(db: Knex | Knex.Transaction, tenantId: string, id: string): Promise<boolean> {
  const n = await db('callback_events').where({ id, tenant_id: tenantId, status: 'failed' }).update({ status: 'received' });
  return n > 0;
}

export async function findFailedCallbackIds(
  db: Knex,
  f: { tenantId: string; ids?: string[]; notifyType?: number; from?: Date; to?: Date; limit: number },
): Promise<string[]> {
  const q = db('callback_events').select('id').where({ tenant_id: f.tenantId, status: 'failed' });
  if (f.ids) q.whereIn('id', f.ids);
  if (f.notifyType !== undefined) q.andWhere('notify_type', f.notifyType);
  if (f.from) q.andWhere('received_time', '>=', f.from);
  if (f.to) q.andWhere('received_time', '<', f.to);
  const rows = (await q.orderBy('received_time', 'asc').limit(f.limit)) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

/** Replay keys older than the replay window (retention job). */
export async function purgeCallbackEventKeys(db: Knex, before: Date, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await db('callback_event_keys').where('created_at', '<', before).limit(batch).delete();
    total += n;
    if (n < batch) return total;
  }
}

export interface AccountRef {
  id: string;
  tenant_id: string;
}

export async function findAccountByGuid(db: Knex, guid: string): Promise<AccountRef | undefined> {
  return db('wework_accounts').select('id', 'tenant_id').where({ guid }).first();
}

// --- WeCom official callback configuration -------------------------------------------------------

export interface WecomCallbackConfig {
  tenantId: string;
  corpId: string;
  token: string;
  encodingAesKey: string;
  updatedAt: Date;
}

/** The tenant's settings; `activeOnly` hides tenants that are suspended or deleted (public endpoint). */
export async function getWecomCallbackConfig(db: Knex, tenantId: string, opts: { activeOnly?: boolean } = {}): Promise<WecomCallbackConfig | undefined> {
  const q = db('wecom_callback_configs as w').select('w.*').where('w.tenant_id', tenantId);
  if (opts.activeOnly) q.join('tenants as t', 't.id', 'w.tenant_id').andWhere('t.status', 'active');
  const row = await q.first();
  if (!row) return undefined;
  return { tenantId: row.tenant_id, corpId: row.corp_id, token: row.token, encodingAesKey: row.encoding_aes_key, updatedAt: row.updated_at };
}

export async function upsertWecomCallbackConfig(
  db: Knex | Knex.Transaction,
  c: { tenantId: string; corpId: string; token: string; encodingAesKey: string },
): Promise<void> {
  await db('wecom_callback_configs')
    .insert({ tenant_id: c.tenantId, corp_id: c.corpId, token: c.token, encoding_aes_key: c.encodingAesKey })
    .onConflict('tenant_id')
    .merge(['corp_id', 'token', 'encoding_aes_key']);
}

export async function deleteWecomCallbackConfig(db: Knex | Knex.Transaction, tenantId: string): Promise<boolean> {
  return (await db('wecom_callback_configs').where({ tenant_id: tenantId }).delete()) > 0;
}

// --- Hot-path writer --------------------------------------------------------------------------------

/**
 * The webhook's batch insert in ONE round trip: its own small mysql2 pool with multi-statements, so
 * START TRANSACTION; replay keys; events whose keys this transaction won; owners of the keys; COMMIT
 * travel together. Under load the webhook's latency is mostly round trips to MariaDB (each waits for a
 * scheduler slot on a busy host), and acknowledged throughput is concurrency ÷ latency. Same outcomes
 * as `insertCallbackEvents`; every value goes through mysql2's escaping (no string building of values).
 */
export interface CallbackEventWriter {
  insert(events: NewCallbackEvent[]): Promise<StoredOutcome[]>;
  close(): Promise<void>;
}

export function createCallbackEventWriter(db: Config['db'], poolSize: number): CallbackEventWriter {
  const pool = createPool({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
    charset: 'utf8mb4',
    timezone: 'Z',
    multipleStatements: true,
    connectionLimit: poolSize,
    maxIdle: poolSize,
    supportBigNumbers: true,
  });

  async function insertOnce(events: NewCallbackEvent[], ids: string[], firstByKey: Map<string, string>, keys: string[]): Promise<StoredOutcome[]> {
    const fresh = events.map((e, i) => ({ e, id: ids[i] })).filter(({ id }, i) => ids.indexOf(id) === i);
    const row = '(SELECT ? AS id, ? AS event_key, ? AS tenant_id, ? AS guid, ? AS notify_type, ? AS event_type, ? AS raw_data, ? AS source_ip, ? AS user_agent)';
    // Same session time zone as the knex pool (received_time defaults to CURRENT_TIMESTAMP, in UTC).
    const sql =
      "SET time_zone = '+00:00';\n" +
      'START TRANSACTION;\n' +
      `INSERT IGNORE INTO callback_event_keys (event_key, callback_id) VALUES ${keys.map(() => '(?, ?)').join(', ')};\n` +
      `INSERT INTO callback_events (id, tenant_id, guid, notify_type, event_type, raw_data, source_ip, user_agent, status)
       SELECT v.id, COALESCE(v.tenant_id, (SELECT a.tenant_id FROM wework_accounts a WHERE a.guid = v.guid)), v.guid, v.notify_type,
              v.event_type, v.raw_data, v.source_ip, v.user_agent, 'received'
       FROM (${fresh.map(() => row).join(' UNION ALL ')}) v
       JOIN callback_event_keys k ON k.event_key = v.event_key AND k.callback_id = v.id;\n` +
      `SELECT event_key, callback_id FROM callback_event_keys WHERE event_key IN (${keys.map(() => '?').join(', ')}) LOCK IN SHARE MODE;\n` +
      'COMMIT';
    const params = [
      ...keys.flatMap((k) => [k, firstByKey.get(k)!]),
      ...fresh.flatMap(({ e, id }) => [
        id,
        e.eventKey,
        e.tenantId ?? null,
        e.guid,
        e.notifyType,
        e.eventType,
        e.rawData,
        e.sourceIp?.slice(0, 45) ?? null,
        e.userAgent?.slice(0, 1000) ?? null,
      ]),
      ...keys,
    ];
    const conn = await pool.getConnection();
    let broken = false;
    try {
      const [results] = (await conn.query(sql, params)) as unknown as [unknown[]];
      const owners = results[4] as Array<{ event_key: string; callback_id: string }>;
      const ownerByKey = new Map(owners.map((o) => [o.event_key, o.callback_id]));
      return events.map((e, i): StoredOutcome => {
        const owner = ownerByKey.get(e.eventKey) ?? ids[i];
        const firstInBatch = ids.indexOf(ids[i]) === i;
        return { id: owner, duplicate: !(owner === ids[i] && firstInBatch) };
      });
    } catch (err) {
      // A failed statement leaves the transaction open on this connection: roll back, or drop it.
      await conn.query('ROLLBACK').catch(() => {
        broken = true;
        conn.destroy();
      });
      throw err;
    } finally {
      if (!broken) conn.release();
    }
  }

  return {
    async insert(events) {
      if (events.length === 0) return [];
      const { ids, firstByKey, keys } = assignIdsByKey(events);
      return withDeadlockRetry(() => insertOnce(events, ids, firstByKey, keys), 3);
    },
    close: () => pool.end(),
  };
}
