import { UnrecoverableError, Worker } from 'bullmq';
import type { AppContext } from '../src/context';
import { defaultCallbackHandlers, type CallbackHandlers } from '../src/callbacks/handlers';
import { PoisonCallbackError, processCallbackEvent } from '../src/callbacks/process-event';
import { CALLBACK_BACKOFF_TYPE, type CallbackJob } from '../src/callbacks/queue';
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

/**
 * Consumes callback-process jobs: each job names one callback_events row, which is claimed, routed by
 * notify_type and finished. Failures are recorded on the row and retried with backoff; a body that
 * cannot be understood fails at once.
 */
export function startCallbackProcessWorker(ctx: AppContext, opts: CallbackWorkerOptions = {}): RunningWorker {
  const handlers = opts.handlers ?? defaultCallbackHandlers();
  const base = opts.backoffBaseMs ?? 1000;
  const max = opts.maxBackoffMs ?? 60_000;
  const connection = createRedis(ctx.config.redis, 'blocking');
  connection.on('error', () => undefined);
  const worker = new Worker<CallbackJob>(
    QUEUE.callbackProcess,
    async (job) => {
      try {
        return await processCallbackEvent(ctx, job.data.id, handlers);
      } catch (err) {
        if (err instanceof PoisonCallbackError) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
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
      ctx.logger.warn({ id: job.data.id, err: err.message }, 'callback event failed for good');
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
