import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { activeEndpointsOf } from '../db/webhook-endpoints';
import { insertDeliveries, type NewDelivery } from '../db/webhook-deliveries';
import { BATCHABLE_TYPES, subscribes } from './event-types';

/**
 * Fans the outbox out to endpoints: takes up to `limit` events (SKIP LOCKED, so several workers share the
 * outbox), makes one delivery per (endpoint, event) or, for an endpoint with `batch_max` > 1, one per
 * batch of message events, and deletes the events, all in one transaction. Returns the new deliveries'
 * ids for the queue; if the process dies before queueing them, the sweeper finds them overdue.
 */
export const newDeliveryId = () => `msg_${randomBytes(12).toString('hex')}`;

interface OutboxRow {
  seq: number;
  tenant_id: string;
  type: string;
  payload: string;
}

export function batchBody(payloads: string[], at: Date): string {
  return `{"type":"batch","timestamp":${JSON.stringify(at.toISOString())},"data":{"events":[${payloads.join(',')}]}}`;
}

/** Pure fan-out: which deliveries the events make for the endpoints. */
export function planDeliveries(
  events: OutboxRow[],
  endpoints: Array<{ id: string; tenant_id: string; event_types: string[]; batch_max: number }>,
  at: Date,
  idOf: () => string = newDeliveryId,
): NewDelivery[] {
  const out: NewDelivery[] = [];
  for (const ep of endpoints) {
    const mine = events.filter((e) => e.tenant_id === ep.tenant_id && subscribes(ep.event_types, e.type));
    const batched = ep.batch_max > 1 ? mine.filter((e) => BATCHABLE_TYPES.has(e.type)) : [];
    for (const e of mine) {
      if (batched.includes(e)) continue;
      out.push({ id: idOf(), tenant_id: ep.tenant_id, endpoint_id: ep.id, event_type: e.type, event_count: 1, body: e.payload });
    }
    for (let i = 0; i < batched.length; i += ep.batch_max) {
      const chunk = batched.slice(i, i + ep.batch_max);
      out.push({ id: idOf(), tenant_id: ep.tenant_id, endpoint_id: ep.id, event_type: 'batch', event_count: chunk.length, body: batchBody(chunk.map((c) => c.payload), at) });
    }
  }
  return out;
}

export async function dispatchOutbox(db: Knex, limit = 1000): Promise<{ events: number; deliveries: string[] }> {
  // An empty outbox (the poll's usual answer) costs one plain read, not a locking transaction.
  const [probe] = (await db.raw('SELECT seq FROM webhook_outbox LIMIT 1')) as [unknown[]];
  if (probe.length === 0) return { events: 0, deliveries: [] };
  // READ COMMITTED: the locking read takes record locks only, no gap lock at the table's end, so
  // publishers (the status writer's transactions) keep inserting while a dispatch runs.
  return db.transaction(async (trx) => {
    const [rows] = (await trx.raw('SELECT seq, tenant_id, type, payload FROM webhook_outbox ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED', [limit])) as [OutboxRow[]];
    if (rows.length === 0) return { events: 0, deliveries: [] };
    const endpoints = await activeEndpointsOf(trx, [...new Set(rows.map((r) => r.tenant_id))]);
    const deliveries = planDeliveries(rows, endpoints, new Date());
    await insertDeliveries(trx, deliveries);
    const seqs = rows.map((r) => r.seq);
    for (let i = 0; i < seqs.length; i += 1000) await trx('webhook_outbox').whereIn('seq', seqs.slice(i, i + 1000)).delete();
    return { events: rows.length, deliveries: deliveries.map((d) => d.id) };
  }, { isolationLevel: 'read committed' });
}
