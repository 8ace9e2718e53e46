import type { Knex } from 'knex';
import type { AppContext } from '../context';
import { recordAudit } from '../db/audit';
import { failPendingOf, type AttemptRecord, type ClaimedDelivery } from '../db/webhook-deliveries';
import { disableEndpoint, endpointForDelivery, type EndpointForDelivery } from '../db/webhook-endpoints';
import { judgeAttempt } from './backoff';
import type { WebhookHttpSender } from './http-sender';
import { publishWebhookEvent } from './publish';
import { webhookHeaders } from './signing';

/**
 * One attempt of one claimed delivery: POST it signed, judge the answer. 2xx succeeds; 410 disables the
 * endpoint at once; anything else (3xx included: redirects are not followed) retries with exponential
 * backoff until WEBHOOK_MAX_ATTEMPTS, then the endpoint is disabled and the tenant told (event, audit,
 * socket). The outcome is recorded by the delivery pump's group commit (src/webhooks/delivery-pump.ts).
 */
export type DeliveryCtx = Pick<AppContext, 'db' | 'config' | 'realtime' | 'logger'>;

/** Endpoints (URL, state, opened secrets) cached briefly per process: a burst of deliveries opens the secret once. */
export class EndpointCache {
  private readonly entries = new Map<string, { at: number; value: Promise<EndpointForDelivery | undefined> }>();
  constructor(
    private readonly db: Knex,
    private readonly keyRing: AppContext['config']['channels']['keyRing'],
    private readonly ttlMs = 1000,
  ) {}

  /** Concurrent misses for one endpoint share one read (a claim brings many deliveries of an endpoint at once). */
  get(id: string): Promise<EndpointForDelivery | undefined> {
    const hit = this.entries.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const value = endpointForDelivery(this.db, this.keyRing, id);
    if (this.entries.size > 10_000) this.entries.clear(); // bounded: a cache, not a registry
    this.entries.set(id, { at: Date.now(), value });
    value.catch(() => this.entries.get(id)?.value === value && this.entries.delete(id));
    return value;
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}

export interface AttemptResult {
  record: AttemptRecord;
  /** The endpoint to disable once the record is written (410, or the retries exhausted). */
  disable?: { endpoint: EndpointForDelivery; reason: string };
}

export async function attemptDelivery(ctx: DeliveryCtx, sender: WebhookHttpSender, endpoints: EndpointCache, row: ClaimedDelivery): Promise<AttemptResult> {
  const endpoint = await endpoints.get(row.endpoint_id);
  if (!endpoint || !endpoint.active) {
    return { record: { id: row.id, attempts: row.attempts, status: 'failed', statusCode: null, latencyMs: null, excerpt: null, error: 'endpoint disabled or deleted' } };
  }
  const out = await sender.post(endpoint.url, webhookHeaders(endpoint.secrets, row.id, new Date(), row.body), row.body);
  const verdict = judgeAttempt(out.statusCode, row.attempts, { baseMs: ctx.config.webhooks.retryBaseMs, maxAttempts: ctx.config.webhooks.maxAttempts });
  const base = { id: row.id, attempts: row.attempts, statusCode: out.statusCode, latencyMs: out.latencyMs, excerpt: out.excerpt, error: out.error };
  if (verdict.kind === 'succeeded') return { record: { ...base, status: 'succeeded' } };
  if (verdict.kind === 'retry') return { record: { ...base, status: 'pending', nextAttemptAt: new Date(Date.now() + verdict.delayMs) } };
  const reason = verdict.kind === 'gone' ? 'the endpoint answered 410 Gone' : `failing for ${row.attempts} attempts (last: ${out.statusCode ?? out.error ?? 'no answer'})`;
  return { record: { ...base, status: 'failed' }, disable: { endpoint, reason } };
}

/** Disables the endpoint and tells the tenant: audit row, a `webhook.endpoint_disabled` event to its other endpoints, a socket event. */
export async function disableAndTell(ctx: DeliveryCtx, endpoint: EndpointForDelivery, reason: string): Promise<void> {
  const disabled = await ctx.db.transaction(async (trx) => {
    if (!(await disableEndpoint(trx, endpoint.id, reason))) return false;
    await failPendingOf(trx, endpoint.id, `endpoint disabled: ${reason}`);
    await recordAudit(trx, { tenantId: endpoint.tenant_id, actorType: 'system', action: 'webhook.disable', targetType: 'webhook_endpoint', targetId: endpoint.id, details: { reason } });
    await publishWebhookEvent(trx, endpoint.tenant_id, 'webhook.endpoint_disabled', { endpoint_id: endpoint.id, reason });
    return true;
  });
  if (disabled) {
    ctx.realtime.toTenant(endpoint.tenant_id, 'webhook.endpoint_disabled', { endpoint_id: endpoint.id, reason, at: new Date().toISOString() });
    ctx.logger.warn({ endpointId: endpoint.id, tenantId: endpoint.tenant_id, reason }, 'webhook endpoint disabled');
  }
}
