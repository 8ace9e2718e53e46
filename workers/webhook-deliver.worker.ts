import { Worker } from 'bullmq';
import type { AppContext } from '../src/context';
import { overdueDeliveries } from '../src/db/webhook-deliveries';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import { attemptDeliveries, enqueueDeliveries, EndpointCache, freshJobs, type DeliverJob } from '../src/webhooks/delivery';
import { dispatchOutbox } from '../src/webhooks/dispatcher';
import { WebhookHttpSender } from '../src/webhooks/http-sender';
import type { RunningWorker } from './index';

/**
 * Tenant webhooks, apart from sending (issue 12): a dispatch loop drains the outbox into deliveries and
 * queues them; the `webhook-deliver` queue's worker makes the HTTP attempts; a sweeper re-queues
 * deliveries whose job was lost (a process died between commit and queueing, or mid-attempt).
 */
export interface WebhookWorkerOptions {
  concurrency?: number;
  /** Outbox poll interval when it was found empty. */
  idleMs?: number;
  sweepEveryMs?: number;
}

const SWEEP_OVERDUE_MS = 30_000;

export function startWebhookDeliverWorker(ctx: AppContext, opts: WebhookWorkerOptions = {}): RunningWorker {
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const sender = new WebhookHttpSender(ctx.config.webhooks.ssrf, ctx.config.webhooks.timeoutMs);
  const endpoints = new EndpointCache(ctx.db, ctx.config.channels.keyRing);
  const worker = new Worker<DeliverJob>(QUEUE.webhookDeliver, (job) => attemptDeliveries(ctx, sender, endpoints, job.data), {
    connection,
    prefix: ctx.config.redis.prefix,
    // Jobs at once; each sends its (up to DELIVERIES_PER_JOB) deliveries side by side.
    concurrency: opts.concurrency ?? ctx.config.webhooks.concurrency,
    lockDuration: 60_000,
  });
  worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'webhook worker error'));
  worker.on('failed', (job, err) => ctx.logger.warn({ deliveryIds: job?.data.deliveryIds, err: err.message }, 'webhook attempt could not be recorded'));

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

  // The dispatch loop owns its errors: MySQL or Redis down means waiting, never exiting.
  const dispatching = (async () => {
    while (!stopped) {
      try {
        const { events, deliveries } = await dispatchOutbox(ctx.db);
        if (deliveries.length) await enqueueDeliveries(ctx, freshJobs(deliveries));
        if (events === 0) await sleep(opts.idleMs ?? 200);
      } catch (err) {
        ctx.logger.warn({ err: (err as Error).message }, 'webhook outbox dispatch failed; retrying');
        await sleep(1000);
      }
    }
  })();

  const sweep = async () => {
    try {
      const overdue = await overdueDeliveries(ctx.db, SWEEP_OVERDUE_MS, 1000);
      if (overdue.length) await enqueueDeliveries(ctx, overdue.map((d) => ({ deliveryIds: [d.id], attempt: d.attempts })));
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'webhook sweep failed');
    }
  };
  const sweeper = setInterval(() => void sweep(), opts.sweepEveryMs ?? 10_000);
  sweeper.unref();

  return {
    name: QUEUE.webhookDeliver,
    async close() {
      stopped = true;
      clearInterval(sweeper);
      wake?.();
      await dispatching;
      await worker.close();
      sender.close();
      connection.disconnect();
    },
  };
}
