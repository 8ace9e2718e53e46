import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { AppContext } from '../src/context';
import { defaultCallbackHandlers, type CallbackHandlers } from '../src/callbacks/handlers';
import { PoisonCallbackError, processCallbackEvent, type ProcessResult } from '../src/callbacks/process-event';
import {
  CALLBACK_BACKOFF_TYPE,
  CALLBACK_JOB_ATTEMPTS,
  PROCESS_BATCH_JOB,
  requeueCallbackJob,
  type CallbackBatchJob,
  type CallbackJob,
} from '../src/callbacks/queue';
import { QUEUE } from '../src/queues/names';
import { createRedis } from '../src/redis';
import type { RunningWorker } from './index';

export interface CallbackWorkerOptions {
  handlers?: CallbackHandlers;
  concurrency?: number;
  /** First retry delay; doubles per attempt up to `maxBackoffMs`. */
  backoffBaseMs?: number;
  maxBackoffMs?: number;
}

/** Exponential backoff for failed callback jobs: base, 2×base, 4×base … capped. */
export function callbackBackoff(attemptsMade: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
}

/** Events of one batch job processed at the same time. */
const BATCH_PARALLELISM = 8;

/**
 * Consumes callback-process jobs. A `process` job names one callback_events row, which is claimed,
 * routed by notify_type and finished; failures are recorded on the row and retried with backoff, and a
 * body that cannot be understood fails at once. A `process-batch` job (the webhook's) does the same for
 * each of its events; one that fails continues on its own `process` job with the rest of its attempts,
 * so one bad event never re-runs or holds back the others.
 */
export function startCallbackProcessWorker(ctx: AppContext, opts: CallbackWorkerOptions = {}): RunningWorker {
  const handlers = opts.handlers ?? defaultCallbackHandlers();
  const base = opts.backoffBaseMs ?? 1000;
  const max = opts.maxBackoffMs ?? 60_000;
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);

  async function processOne(id: string): Promise<ProcessResult> {
    try {
      return await processCallbackEvent(ctx, id, handlers);
    } catch (err) {
      if (err instanceof PoisonCallbackError) throw new UnrecoverableError(err.message);
      throw err;
    }
  }

  async function processBatch(job: Job<CallbackBatchJob>): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    let retryFailure: unknown;
    const ids = job.data.ids;
    for (let i = 0; i < ids.length; i += BATCH_PARALLELISM) {
      await Promise.all(
        ids.slice(i, i + BATCH_PARALLELISM).map(async (id) => {
          try {
            const r = await processOne(id);
            counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
          } catch (err) {
            counts.failed = (counts.failed ?? 0) + 1;
            if (err instanceof UnrecoverableError) return; // recorded as failed; retrying cannot help
            // The row is failed with one attempt counted; the event continues on its own job.
            try {
              await requeueCallbackJob(ctx, id, { attempts: CALLBACK_JOB_ATTEMPTS - 1, delayMs: callbackBackoff(1, base, max) });
            } catch (queueErr) {
              retryFailure = queueErr;
            }
          }
        }),
      );
    }
    // Could not hand a failed event its retry: fail this attempt, so the batch job runs again (events
    // already finished are skipped by their claims; the failed one is claimed again).
    if (retryFailure) throw retryFailure;
    return counts;
  }

  const worker = new Worker<CallbackJob | CallbackBatchJob>(
    QUEUE.callbackProcess,
    (job) => (job.name === PROCESS_BATCH_JOB ? processBatch(job as Job<CallbackBatchJob>) : processOne((job as Job<CallbackJob>).data.id)),
    {
      connection,
      prefix: ctx.config.redis.prefix,
      concurrency: opts.concurrency ?? 16,
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string) =>
          type === CALLBACK_BACKOFF_TYPE ? callbackBackoff(attemptsMade, base, max) : base,
      },
    },
  );
  worker.on('error', (err) => ctx.logger.warn({ err: err.message }, 'callback worker error'));
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      ctx.logger.warn({ job: job.id, err: err.message }, 'callback job failed for good');
    }
  });
  return {
    name: 'callback-process',
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}

export const callbackProcessWorker = (ctx: AppContext): RunningWorker => startCallbackProcessWorker(ctx);
