import type { Knex } from 'knex';
import type { AppContext } from '../context';
import { recordAudit } from '../db/audit';
import { claimAttempts, failPendingOf, recordAttempts, type AttemptRecord } from '../db/webhook-deliveries';
import { disableEndpoint, endpointForDelivery, type EndpointForDelivery } from '../db/webhook-endpoints';
import { QUEUE } from '../queues/names';
import { judgeAttempt } from './backoff';
import type { WebhookHttpSender } from './http-sender';
import { publishWebhookEvent } from './publish';
import { webhookHeaders } from './signing';

/**
 * One attempt of some deliveries (a job carries the deliveries one dispatch made for an endpoint, or one
 * retry): claim them in one transaction (only the job of the current attempt wins), POST each signed,
 * record the outcomes in one UPDATE, and schedule the next attempts or give up. 2xx succeeds; 410 disables the endpoint
 * at once; anything else (3xx included: redirects are not followed) retries with exponential backoff
 * until WEBHOOK_MAX_ATTEMPTS, then the endpoint is disabled and the tenant told (event, audit, socket).
 */
export type DeliveryCtx = Pick<AppContext, 'db' | 'config' | 'queues' | 'realtime' | 'logger'>;

export interface DeliverJob {
  deliveryIds: string[];
  attempt: number;
}

export const DELIVER_JOB = 'deliver';
/** Deliveries per job: one claim and one result write per group instead of per request. */
export const DELIVERIES_PER_JOB = 16;
export const jobIdOf = (deliveryId: string, attempt: number) => `${deliveryId}.${attempt}`;

/** Queues attempts; a job id per (delivery, attempt) makes queueing the same attempt twice a no-op. */
export async function enqueueDeliveries(ctx: Pick<AppContext, 'queues'>, jobs: Array<DeliverJob & { delayMs?: number }>): Promise<void> {
  const q = ctx.queues.get(QUEUE.webhookDeliver);
  for (let i = 0; i < jobs.length; i += 1000) {
    await q.addBulk(
      jobs.slice(i, i + 1000).map((j) => ({
        name: DELIVER_JOB,
        data: { deliveryIds: j.deliveryIds, attempt: j.attempt },
        opts: { jobId: jobIdOf(j.deliveryIds[0], j.attempt), delay: j.delayMs, removeOnComplete: true, removeOnFail: 1000, attempts: 3, backoff: { type: 'exponential', delay: 1000 } },
      })),
    );
  }
}

/** Fresh deliveries (attempt 0) in jobs of DELIVERIES_PER_JOB, in dispatch order. */
export function freshJobs(deliveryIds: string[]): DeliverJob[] {
  const jobs: DeliverJob[] = [];
  for (let i = 0; i < deliveryIds.length; i += DELIVERIES_PER_JOB) jobs.push({ deliveryIds: deliveryIds.slice(i, i + DELIVERIES_PER_JOB), attempt: 0 });
  return jobs;
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

export async function attemptDeliveries(ctx: DeliveryCtx, sender: WebhookHttpSender, endpoints: EndpointCache, job: DeliverJob): Promise<Record<string, number>> {
  const rows = await claimAttempts(ctx.db, job.deliveryIds, job.attempt);
  const attemptsAfter = job.attempt + 1;
  const counts: Record<string, number> = {};
  const records: AttemptRecord[] = [];
  const retries: Array<DeliverJob & { delayMs: number }> = [];
  const toDisable = new Map<string, { endpoint: EndpointForDelivery; reason: string }>();
  await Promise.all(
    rows.map(async (row) => {
      const endpoint = await endpoints.get(row.endpoint_id);
      if (!endpoint || !endpoint.active) {
        records.push({ id: row.id, status: 'failed', statusCode: null, latencyMs: null, excerpt: null, error: 'endpoint disabled or deleted' });
        counts.inactive = (counts.inactive ?? 0) + 1;
        return;
      }
      const out = await sender.post(endpoint.url, webhookHeaders(endpoint.secrets, row.id, new Date(), row.body), row.body);
      const verdict = judgeAttempt(out.statusCode, attemptsAfter, { baseMs: ctx.config.webhooks.retryBaseMs, maxAttempts: ctx.config.webhooks.maxAttempts });
      const base = { id: row.id, statusCode: out.statusCode, latencyMs: out.latencyMs, excerpt: out.excerpt, error: out.error };
      counts[verdict.kind] = (counts[verdict.kind] ?? 0) + 1;
      if (verdict.kind === 'succeeded') records.push({ ...base, status: 'succeeded' });
      else if (verdict.kind === 'retry') {
        records.push({ ...base, status: 'pending', nextAttemptAt: new Date(Date.now() + verdict.delayMs) });
        retries.push({ deliveryIds: [row.id], attempt: attemptsAfter, delayMs: verdict.delayMs });
      } else {
        records.push({ ...base, status: 'failed' });
        const reason = verdict.kind === 'gone' ? 'the endpoint answered 410 Gone' : `failing for ${attemptsAfter} attempts (last: ${out.statusCode ?? out.error ?? 'no answer'})`;
        toDisable.set(endpoint.id, { endpoint, reason });
      }
    }),
  );
  await recordAttempts(ctx.db, attemptsAfter, records);
  if (retries.length) await enqueueDeliveries(ctx, retries);
  for (const { endpoint, reason } of toDisable.values()) {
    await disableAndTell(ctx, endpoint, reason);
    endpoints.forget(endpoint.id);
  }
  return counts;
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
