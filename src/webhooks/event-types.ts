/**
 * Events a tenant can subscribe an endpoint to (issue 12). The body of every request is
 * `{type, timestamp, data}`; a batched request is `{type: "batch", timestamp, data: {events: [...]}}`.
 */
export const WEBHOOK_EVENT_TYPES = [
  'message.sent',
  'message.delivered',
  'message.failed',
  'task.status',
  'task.completed',
  'account.status',
  'account.risk',
  'conversation.message',
  'webhook.endpoint_disabled',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Subscribing to `*` means every type, including types added later. */
export const ALL_EVENTS = '*';

/** High-volume types an endpoint may receive batched (opt-in `batch_max` > 1). */
export const BATCHABLE_TYPES: ReadonlySet<string> = new Set(['message.sent', 'message.delivered', 'message.failed']);

export function subscribes(eventTypes: readonly string[], type: string): boolean {
  return eventTypes.includes(ALL_EVENTS) || eventTypes.includes(type);
}

export interface WebhookEvent {
  type: WebhookEventType;
  data: Record<string, unknown>;
}

/** The JSON body of one event. */
export function eventBody(event: WebhookEvent, at: Date): { type: string; timestamp: string; data: Record<string, unknown> } {
  return { type: event.type, timestamp: at.toISOString(), data: event.data };
}
