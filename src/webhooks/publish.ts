import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { eventBody, subscribes, type WebhookEvent, type WebhookEventType } from './event-types';

/**
 * Publishing a webhook event is one INSERT into `webhook_outbox`, made with the caller's transaction so
 * the event commits (or not) with the state change it reports: a process that dies after the commit
 * loses nothing, and sending never waits on HTTP. The dispatcher (src/webhooks/dispatcher.ts) fans the
 * outbox out to endpoints. A tenant with no active endpoint for the type writes nothing.
 */
type Db = Knex | Knex.Transaction;

export const newEventId = () => `evt_${randomBytes(12).toString('hex')}`;

export async function publishWebhookEvents(db: Db, tenantId: string, events: readonly WebhookEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const endpoints: Array<{ event_types: string | string[] }> = await db('webhook_endpoints').select('event_types').where({ tenant_id: tenantId, active: 1 });
  if (endpoints.length === 0) return 0;
  const subscribed = endpoints.map((e) => (typeof e.event_types === 'string' ? (JSON.parse(e.event_types) as string[]) : e.event_types));
  const wanted = events.filter((ev) => subscribed.some((types) => subscribes(types, ev.type)));
  if (wanted.length === 0) return 0;
  const now = new Date();
  const rows = wanted.map((ev) => ({ event_id: newEventId(), tenant_id: tenantId, type: ev.type, payload: JSON.stringify(eventBody(ev, now)) }));
  for (let i = 0; i < rows.length; i += 500) await db('webhook_outbox').insert(rows.slice(i, i + 500));
  return rows.length;
}

export function publishWebhookEvent(db: Db, tenantId: string, type: WebhookEventType, data: Record<string, unknown>): Promise<number> {
  return publishWebhookEvents(db, tenantId, [{ type, data }]);
}
