import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { eventBody, subscribes, type WebhookEvent, type WebhookEventType } from './event-types';
import { readSubscribedTypes, type SubscribedTypes } from './subscriptions';

/**
 * Publishing a webhook event is one INSERT into `webhook_outbox`, made with the caller's transaction so
 * the event commits (or not) with the state change it reports: a process that dies after the commit
 * loses nothing, and sending never waits on HTTP. The dispatcher (src/webhooks/dispatcher.ts) fans the
 * outbox out to endpoints. A tenant with no active endpoint for the type writes nothing.
 */
type Db = Knex | Knex.Transaction;

export const newEventId = () => `evt_${randomBytes(12).toString('hex')}`;

/** `subscribed`: the tenant's endpoints' event types when the caller knows them (src/webhooks/subscriptions.ts); else read here. */
export async function publishWebhookEvents(db: Db, tenantId: string, events: readonly WebhookEvent[], subscribed?: SubscribedTypes): Promise<number> {
  if (events.length === 0) return 0;
  const endpoints = subscribed ?? (await readSubscribedTypes(db, tenantId));
  if (endpoints.length === 0) return 0;
  const wanted = events.filter((ev) => endpoints.some((types) => subscribes(types, ev.type)));
  if (wanted.length === 0) return 0;
  const now = new Date();
  const rows = wanted.map((ev) => ({ event_id: newEventId(), tenant_id: tenantId, type: ev.type, payload: JSON.stringify(eventBody(ev, now)) }));
  for (let i = 0; i < rows.length; i += 500) await db('webhook_outbox').insert(rows.slice(i, i + 500));
  return rows.length;
}

export function publishWebhookEvent(db: Db, tenantId: string, type: WebhookEventType, data: Record<string, unknown>): Promise<number> {
  return publishWebhookEvents(db, tenantId, [{ type, data }]);
}
