import type { Knex } from 'knex';
import type { AppContext } from '../context';
import { recordAudit } from '../db/audit';
import { claimAttempt, failPendingOf, recordAttempt } from '../db/webhook-deliveries';
import { disableEndpoint, endpointForDelivery, type EndpointForDelivery } from '../db/webhook-endpoints';
import { QUEUE } from '../queues/names';
import { judgeAttempt } from './backoff';
import type { WebhookHttpSender } from './http-sender';
import { publishWebhookEvent } from './publish';
import { webhookHeaders } from './signing';

/**
 * One attempt of one delivery: claim it (only the job of the current attempt wins), POST it signed,
 * record the outcome, and schedule the next attempt or give up. 2xx succeeds; 410 disables the endpoint
 * at once; anything else (3xx included: redirects are not followed) retries with exponential backoff
 * until WEBHOOK_MAX_ATTEMPTS, then the endpoint is disabled and the tenant told (event, audit, socket).
 */
export type DeliveryCtx = Pick<AppContext, 'db' | 'config' | 'queues' | 'realtime' | 'logger'>;

export interface DeliverJob {
  deliveryId: string;
  attempt: number;
}

export const DELIVER_JOB = 'deliver';
const jobIdOf = (j: DeliverJob) => `${j.deliveryId}.${j.attempt}`;

/** Queues attempts; a job id per (delivery, attempt) makes queueing the same attempt twice a no-op. */
export async function enqueueDeliveries(ctx: Pick<AppContext, 'queues'>, jobs: Array<DeliverJob & { delayMs?: number }>): Promise<void> {
  const q = ctx.queues.get(QUEUE.webhookDeliver);
  for (let i = 0; i < jobs.length; i += 1000) {
    await q.addBulk(
      jobs.slice(i, i + 1000).map((j) => ({
        name: DELIVER_JOB,
        data: { deliveryId: j.deliveryId, attempt: j.attempt },
        opts: { jobId: jobIdOf(j), delay: j.delayMs, removeOnComplete: true, removeOnFail: 1000, attempts: 3, backoff: { type: 'exponential', delay: 1000 } },
      })),
    );
  }
}

/** Endpoints (URL, state, opened secrets) cached briefly per process: a burst of deliveries opens the secret once. */
export class EndpointCache {
  private readonly entries = new Map<string, { at: number; value: EndpointForDelivery | undefined }>();
  constructor(
    private readonly db: Knex,
    private readonly keyRing: AppContext['config']['channels']['keyRing'],
    private readonly ttlMs = 1000,
  ) {}

  async get(id: string): Promise<EndpointForDelivery | undefined> {
    const hit = this.entries.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const value = await endpointForDelivery(this.db, this.keyRing, id);
    if (this.entries.size > 10_000) this.entries.clear(); // bounded: a cache, not a registry
    this.entries.set(id, { at: Date.now(), value });
    return value;
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}

export async function attemptDelivery(ctx: DeliveryCtx, sender: WebhookHttpSender, endpoints: EndpointCache, job: DeliverJob): Promise<string> {
  const row = await claimAttempt(ctx.db, job.deliveryId, job.attempt);
  if (!row) return 'not-due';
  const attemptsAfter = job.attempt + 1;
  const endpoint = await endpoints.get(row.endpoint_id);
  if (!endpoint || !endpoint.active) {
    await recordAttempt(ctx.db, job.deliveryId, attemptsAfter, { status: 'failed', statusCode: null, latencyMs: null, excerpt: null, error: 'endpoint disabled or deleted' });
    return 'endpoint-inactive';
  }
  const at = new Date();
  const out = await sender.post(endpoint.url, webhookHeaders(endpoint.secrets, job.deliveryId, at, row.body), row.body);
  const verdict = judgeAttempt(out.statusCode, attemptsAfter, { baseMs: ctx.config.webhooks.retryBaseMs, maxAttempts: ctx.config.webhooks.maxAttempts });
  const base = { statusCode: out.statusCode, latencyMs: out.latencyMs, excerpt: out.excerpt, error: out.error };
  switch (verdict.kind) {
    case 'succeeded':
      await recordAttempt(ctx.db, job.deliveryId, attemptsAfter, { ...base, status: 'succeeded' });
      break;
    case 'retry': {
      const nextAttemptAt = new Date(Date.now() + verdict.delayMs);
      await recordAttempt(ctx.db, job.deliveryId, attemptsAfter, { ...base, status: 'pending', nextAttemptAt });
      await enqueueDeliveries(ctx, [{ deliveryId: job.deliveryId, attempt: attemptsAfter, delayMs: verdict.delayMs }]);
      break;
    }
    case 'gone':
      await recordAttempt(ctx.db, job.deliveryId, attemptsAfter, { ...base, status: 'failed' });
      await disableAndTell(ctx, endpoint, 'the endpoint answered 410 Gone');
      endpoints.forget(endpoint.id);
      break;
    case 'exhausted':
      await recordAttempt(ctx.db, job.deliveryId, attemptsAfter, { ...base, status: 'failed' });
      await disableAndTell(ctx, endpoint, `failing for ${attemptsAfter} attempts (last: ${out.statusCode ?? out.error ?? 'no answer'})`);
      endpoints.forget(endpoint.id);
      break;
  }
  return verdict.kind;
}

/** Disables the endpoint and tells the tenant: audit row, a `webhook.endpoint_disabled` event to its other endpoints, a socket event. */
async function disableAndTell(ctx: DeliveryCtx, endpoint: EndpointForDelivery, reason: string): Promise<void> {
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
