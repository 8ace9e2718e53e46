import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { deliveriesQuery, getDelivery, resetForRedelivery } from '../../db/webhook-deliveries';
import { decodeEndpoint, deleteEndpoint, endpointsQuery, getEndpoint, insertEndpoint, rotateEndpointSecret, updateEndpoint } from '../../db/webhook-endpoints';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';
import { ALL_EVENTS, WEBHOOK_EVENT_TYPES } from '../../webhooks/event-types';
import { generateWebhookSecret } from '../../webhooks/signing';
import { announceEndpointsChanged } from '../../webhooks/subscriptions';
import { assertUrlAllowed, SsrfError } from '../../webhooks/ssrf';
import { auditRequest } from '../audit';
import { requirePermission } from '../authenticate';
import { httpUrl } from '../fields';
import { registry } from '../openapi';
import { paginate, pageQuery, pageResponse } from '../pagination';
import { principalOf, tenantIdOf } from '../principal';
import { body, params, query } from '../validate';
import { IdParams } from './access-schemas';
import { documentRoute } from './route-docs';

const time = z.string().datetime().describe('ISO 8601 date-time');

const EventTypes = z
  .array(z.enum([ALL_EVENTS, ...WEBHOOK_EVENT_TYPES]))
  .min(1)
  .max(20)
  .transform((types) => (types.includes(ALL_EVENTS) ? [ALL_EVENTS] : [...new Set(types)]))
  .describe(`event types to receive, or ["*"] for all: ${WEBHOOK_EVENT_TYPES.join(', ')}`);
const BatchMax = z.number().int().min(1).max(500).describe('message.* events per request (1 = one request per event)');

const CreateWebhookBody = z.object({
  name: z.string().trim().min(1).max(100),
  url: httpUrl,
  event_types: EventTypes.default([ALL_EVENTS]),
  active: z.boolean().default(true),
  batch_max: BatchMax.default(1),
});
const UpdateWebhookBody = z
  .object({ name: z.string().trim().min(1).max(100), url: httpUrl, event_types: EventTypes, active: z.boolean(), batch_max: BatchMax })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'nothing to update');
const RotateBody = z.object({
  overlap_seconds: z.number().int().min(0).max(7 * 86_400).optional().describe('how long the old secret keeps signing too (default WEBHOOK_ROTATION_OVERLAP_SECONDS, one day)'),
});
const WebhookOut = registry.register('WebhookEndpoint', z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  event_types: z.array(z.string()),
  active: z.boolean(),
  batch_max: z.number().int(),
  disabled_reason: z.string().nullable(),
  disabled_at: time.nullable(),
  previous_secret_expires_at: time.nullable().describe('until then the previous secret signs too'),
  created_at: time,
  updated_at: time,
}));
const WebhookWithSecret = WebhookOut.extend({ secret: z.string().describe('the whsec_ signing secret; shown only in this response') });
const DeliveryOut = registry.register('WebhookDelivery', z.object({
  id: z.string().describe('the webhook-id header'),
  endpoint_id: z.string(),
  event_type: z.string().describe('event type, or "batch"'),
  event_count: z.number().int(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: time,
  last_attempt_at: time.nullable(),
  last_status_code: z.number().int().nullable(),
  last_latency_ms: z.number().int().nullable(),
  last_response: z.string().nullable().describe('first 500 bytes of the last response'),
  last_error: z.string().nullable(),
  created_at: time,
  completed_at: time.nullable(),
}));
const DeliveryDetail = DeliveryOut.extend({ body: z.string().describe('the request body as sent') });
const DeliveryParams = z.object({ id: z.string().min(1).max(36), deliveryId: z.string().min(1).max(40) });
const ListDeliveriesQuery = pageQuery.extend({ status: z.enum(['pending', 'succeeded', 'failed']).optional() });

// The requests an endpoint receives (OpenAPI 3.0 has no webhooks section: documented as components).
const WebhookEventBody = registry.register(
  'WebhookEvent',
  z
    .object({
      type: z.enum(WEBHOOK_EVENT_TYPES),
      timestamp: time,
      data: z.record(z.unknown()).describe('message.*: message_id, task_id, gateway_message_id, error_code/error_message; task.status: task_id, status; task.completed: task_id, name, status, summary {total, sent, success, delivered, failed, unknown, cancelled}; account.status: account_id, old_status, new_status, reason; conversation.message: account_id, conversation_id, last_msg_content, new_messages …'),
    })
    .describe('Body POSTed to a webhook endpoint, signed per Standard Webhooks: headers webhook-id (stable across retries), webhook-timestamp, webhook-signature (v1,<base64 HMAC-SHA256 of "id.timestamp.body">, space-separated during a rotation overlap)'),
);
registry.register(
  'WebhookBatch',
  z.object({ type: z.literal('batch'), timestamp: time, data: z.object({ events: z.array(WebhookEventBody) }) }).describe('Body POSTed to an endpoint with batch_max > 1: up to batch_max message.* events in one request'),
);

const tag = 'Webhooks';
documentRoute({ method: 'post', path: '/api/v1/webhooks', tag, permission: 'webhooks:write', summary: 'Create a webhook endpoint; the signing secret is returned once', body: CreateWebhookBody, response: WebhookWithSecret, status: 201 });
documentRoute({ method: 'get', path: '/api/v1/webhooks', tag, permission: 'webhooks:read', summary: 'List webhook endpoints (never the secret)', query: pageQuery, response: pageResponse(WebhookOut) });
documentRoute({ method: 'get', path: '/api/v1/webhooks/{id}', tag, permission: 'webhooks:read', summary: 'Get a webhook endpoint', params: IdParams, response: WebhookOut });
documentRoute({ method: 'patch', path: '/api/v1/webhooks/{id}', tag, permission: 'webhooks:write', summary: 'Update name, URL, event types, batching or the active flag (re-activating clears the disabled reason)', params: IdParams, body: UpdateWebhookBody, response: WebhookOut });
documentRoute({ method: 'delete', path: '/api/v1/webhooks/{id}', tag, permission: 'webhooks:write', summary: 'Delete a webhook endpoint and its delivery log', params: IdParams });
documentRoute({ method: 'post', path: '/api/v1/webhooks/{id}/rotate-secret', tag, permission: 'webhooks:write', summary: 'New signing secret (returned once); the old one keeps signing too for the overlap, so both signatures are sent', params: IdParams, body: RotateBody, response: WebhookWithSecret });
documentRoute({ method: 'get', path: '/api/v1/webhooks/{id}/deliveries', tag, permission: 'webhooks:read', summary: 'Delivery log of an endpoint: attempts, status, latency, response excerpt', params: IdParams, query: ListDeliveriesQuery, response: pageResponse(DeliveryOut) });
documentRoute({ method: 'get', path: '/api/v1/webhooks/{id}/deliveries/{deliveryId}', tag, permission: 'webhooks:read', summary: 'One delivery with the body sent', params: DeliveryParams, response: DeliveryDetail });
documentRoute({ method: 'post', path: '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver', tag, permission: 'webhooks:write', summary: 'Deliver again now (same webhook-id); the endpoint must be active', params: DeliveryParams, response: DeliveryOut, status: 202, errors: [401, 403, 404, 409] });

function checkUrl(ctx: AppContext, url: string | undefined): void {
  if (url === undefined) return;
  try {
    assertUrlAllowed(ctx.config.webhooks.ssrf, new URL(url));
  } catch (err) {
    if (err instanceof SsrfError) throw new ValidationError([{ field: 'body.url', message: err.message }]);
    throw err;
  }
}

export function webhooksRouter(ctx: AppContext): Router {
  const router = Router();
  const keyRing = ctx.config.channels.keyRing;

  router.post('/webhooks', requirePermission('webhooks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const input = body(req, CreateWebhookBody);
    checkUrl(ctx, input.url);
    const secret = generateWebhookSecret();
    const id = await ctx.db.transaction(async (trx) => {
      const endpointId = await insertEndpoint(trx, keyRing, { tenantId, name: input.name, url: input.url, eventTypes: input.event_types, active: input.active, batchMax: input.batch_max, secret, createdBy: principalOf(req).id });
      await auditRequest(trx, req, 'webhook.create', { type: 'webhook_endpoint', id: endpointId }, { name: input.name, url: input.url, event_types: input.event_types });
      return endpointId;
    });
    // Workers keep each tenant's subscribed types: they forget this tenant's before the answer leaves.
    await announceEndpointsChanged(ctx.redis, ctx.config.redis.prefix, tenantId, ctx.logger);
    res.status(201).json({ ...(await getEndpoint(ctx.db, tenantId, id)), secret });
  });

  router.get('/webhooks', requirePermission('webhooks:read'), async (req, res) => {
    const q = query(req, pageQuery);
    const page = await paginate<Record<string, unknown> & { id: string; created_at: Date }>(endpointsQuery(ctx.db, tenantIdOf(req)), q);
    res.json({ data: page.data.map(decodeEndpoint), next_cursor: page.next_cursor });
  });

  router.get('/webhooks/:id', requirePermission('webhooks:read'), async (req, res) => {
    const { id } = params(req, IdParams);
    const endpoint = await getEndpoint(ctx.db, tenantIdOf(req), id);
    if (!endpoint) throw new NotFoundError('webhook', id);
    res.json(endpoint);
  });

  router.patch('/webhooks/:id', requirePermission('webhooks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const input = body(req, UpdateWebhookBody);
    checkUrl(ctx, input.url);
    await ctx.db.transaction(async (trx) => {
      if (!(await getEndpoint(trx, tenantId, id, { forUpdate: true }))) throw new NotFoundError('webhook', id);
      await updateEndpoint(trx, tenantId, id, { name: input.name, url: input.url, eventTypes: input.event_types, active: input.active, batchMax: input.batch_max });
      await auditRequest(trx, req, 'webhook.update', { type: 'webhook_endpoint', id }, input);
    });
    await announceEndpointsChanged(ctx.redis, ctx.config.redis.prefix, tenantId, ctx.logger);
    res.json(await getEndpoint(ctx.db, tenantId, id));
  });

  router.delete('/webhooks/:id', requirePermission('webhooks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    await ctx.db.transaction(async (trx) => {
      const endpoint = await getEndpoint(trx, tenantId, id, { forUpdate: true });
      if (!endpoint) throw new NotFoundError('webhook', id);
      await deleteEndpoint(trx, tenantId, id);
      await auditRequest(trx, req, 'webhook.delete', { type: 'webhook_endpoint', id }, { name: endpoint.name, url: endpoint.url });
    });
    await announceEndpointsChanged(ctx.redis, ctx.config.redis.prefix, tenantId, ctx.logger);
    res.status(204).end();
  });

  router.post('/webhooks/:id/rotate-secret', requirePermission('webhooks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const input = body(req, RotateBody);
    const overlap = input.overlap_seconds ?? ctx.config.webhooks.rotationOverlapSeconds;
    const secret = generateWebhookSecret();
    await ctx.db.transaction(async (trx) => {
      if (!(await getEndpoint(trx, tenantId, id, { forUpdate: true }))) throw new NotFoundError('webhook', id);
      await rotateEndpointSecret(trx, keyRing, tenantId, id, secret, overlap > 0 ? new Date(Date.now() + overlap * 1000) : null);
      await auditRequest(trx, req, 'webhook.rotate_secret', { type: 'webhook_endpoint', id }, { overlap_seconds: overlap });
    });
    res.json({ ...(await getEndpoint(ctx.db, tenantId, id)), secret });
  });

  router.get('/webhooks/:id/deliveries', requirePermission('webhooks:read'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id } = params(req, IdParams);
    const q = query(req, ListDeliveriesQuery);
    if (!(await getEndpoint(ctx.db, tenantId, id))) throw new NotFoundError('webhook', id);
    // The delivery log is a list: the read replica while it serves reads (ownership above on the primary).
    const page = await paginate<Record<string, unknown> & { id: string; created_at: Date }>(deliveriesQuery(ctx.readDb(), tenantId, id, q.status), q);
    res.json(page);
  });

  router.get('/webhooks/:id/deliveries/:deliveryId', requirePermission('webhooks:read'), async (req, res) => {
    const { id, deliveryId } = params(req, DeliveryParams);
    const delivery = await getDelivery(ctx.db, tenantIdOf(req), id, deliveryId);
    if (!delivery) throw new NotFoundError('webhook_delivery', deliveryId);
    res.json(delivery);
  });

  router.post('/webhooks/:id/deliveries/:deliveryId/redeliver', requirePermission('webhooks:write'), async (req, res) => {
    const tenantId = tenantIdOf(req);
    const { id, deliveryId } = params(req, DeliveryParams);
    // Back to pending and due now: a delivery worker's next claim sends it (a waiting retry is moved up).
    await ctx.db.transaction(async (trx) => {
      const endpoint = await getEndpoint(trx, tenantId, id);
      if (!endpoint || !(await getDelivery(trx, tenantId, id, deliveryId))) throw new NotFoundError('webhook_delivery', deliveryId);
      if (!endpoint.active) throw new ConflictError('the endpoint is disabled; enable it first', 'webhook_inactive');
      await resetForRedelivery(trx, tenantId, deliveryId);
      await auditRequest(trx, req, 'webhook.redeliver', { type: 'webhook_delivery', id: deliveryId }, { endpoint_id: id });
    });
    const { body: _sent, ...delivery } = (await getDelivery(ctx.db, tenantId, id, deliveryId))!;
    res.status(202).json(delivery);
  });
  return router;
}
