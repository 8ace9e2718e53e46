import type { AppContext } from '../src/context';
import { EndpointCache } from '../src/webhooks/delivery';
import { DeliveryPump, leaseMsFor } from '../src/webhooks/delivery-pump';
import { dispatchOutbox } from '../src/webhooks/dispatcher';
import { WebhookHttpSender } from '../src/webhooks/http-sender';
import type { RunningWorker } from './index';

/**
 * Tenant webhooks, apart from sending (issue 12): a dispatch loop drains the outbox into deliveries, and
 * the delivery pump (src/webhooks/delivery-pump.ts) claims due deliveries from MySQL and makes the HTTP
 * attempts. No Redis: a delivery row is its own job, its lease and retry time are next_attempt_at, so a
 * process that dies loses nothing (its claims are due again when their lease runs out).
 */
export interface WebhookWorkerOptions {
  /** Requests in flight per process (default WEBHOOK_CONCURRENCY). */
  concurrency?: number;
  /** Of which to one endpoint (default WEBHOOK_ENDPOINT_CONCURRENCY). */
  perEndpoint?: number;
  /** Outbox and delivery poll interval when nothing was found. */
  idleMs?: number;
  /** How long a claimed delivery is held (default src/webhooks/delivery-pump.ts leaseMsFor: 5 timeouts + 10 s). */
  leaseMs?: number;
}

export function startWebhookDeliverWorker(ctx: AppContext, opts: WebhookWorkerOptions = {}): RunningWorker {
  const idleMs = opts.idleMs ?? 200;
  const pump = new DeliveryPump(ctx, new WebhookHttpSender(ctx.config.webhooks.ssrf, ctx.config.webhooks.timeoutMs), new EndpointCache(ctx.db, ctx.config.channels.keyRing), {
    concurrency: opts.concurrency ?? ctx.config.webhooks.concurrency,
    perEndpoint: opts.perEndpoint ?? ctx.config.webhooks.endpointConcurrency,
    idleMs,
    leaseMs: opts.leaseMs ?? leaseMsFor(ctx.config.webhooks.timeoutMs),
  });

  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  // The dispatch loop owns its errors: MySQL down means waiting, never exiting.
  const dispatching = (async () => {
    while (!stopped) {
      try {
        const { events, deliveries } = await dispatchOutbox(ctx.db);
        if (deliveries.length) pump.poke();
        if (events === 0) await sleep(idleMs);
      } catch (err) {
        ctx.logger.warn({ err: (err as Error).message }, 'webhook outbox dispatch failed; retrying');
        await sleep(1000);
      }
    }
  })();

  return {
    name: 'webhook-deliver',
    async close() {
      stopped = true;
      wake?.();
      await dispatching;
      await pump.close();
    },
  };
}
