import type { JobsOptions } from 'bullmq';
import type { AppContext } from '../context';
import { QUEUE } from '../queues/names';

/**
 * Producer side of the callback-process queue. Jobs carry only the callback_events id (the row is the
 * truth) and use it as jobId, so enqueuing the same event twice (ingest + sweeper) makes one job.
 */
export interface CallbackJob {
  id: string;
}

export const CALLBACK_JOB_ATTEMPTS = 5;
/** The worker's backoff strategy computes the delay (exponential, configurable there for tests). */
export const CALLBACK_BACKOFF_TYPE = 'callback-backoff';

const jobOptions = (id: string): JobsOptions => ({
  jobId: id,
  attempts: CALLBACK_JOB_ATTEMPTS,
  backoff: { type: CALLBACK_BACKOFF_TYPE },
  removeOnComplete: 1000,
  removeOnFail: 5000,
});

/** Enqueue attempts not yet answered by Redis; beyond the cap new ones are skipped (the sweeper has them). */
const MAX_IN_FLIGHT = 2000;
const ENQUEUE_TIMEOUT_MS = 2000;
let inFlight = 0;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`enqueue timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Adds jobs for freshly stored events. Never throws: when Redis is slow or down the events stay
 * `received` in MySQL and the sweeper enqueues them later. Returns how many were handed to Redis.
 */
export async function enqueueCallbackJobs(ctx: AppContext, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  if (inFlight >= MAX_IN_FLIGHT) {
    ctx.logger.warn({ count: ids.length }, 'callback enqueue backlog full; leaving events to the sweeper');
    return 0;
  }
  inFlight += ids.length;
  try {
    const queue = ctx.queues.get(QUEUE.callbackProcess);
    await withTimeout(
      queue.addBulk(ids.map((id) => ({ name: 'process', data: { id } satisfies CallbackJob, opts: jobOptions(id) }))),
      ENQUEUE_TIMEOUT_MS,
    );
    return ids.length;
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message, count: ids.length }, 'callback enqueue failed; the sweeper will retry');
    return 0;
  } finally {
    inFlight -= ids.length;
  }
}

/**
 * Enqueues an event again after a re-drive or sweep: a finished (completed/failed) job under the same id
 * would swallow the add, so it is removed first. A waiting, delayed or active job is left alone.
 */
export async function requeueCallbackJob(ctx: AppContext, id: string): Promise<'queued' | 'already_queued'> {
  const queue = ctx.queues.get(QUEUE.callbackProcess);
  const existing = await queue.getJob(id);
  if (existing) {
    const state = await existing.getState();
    if (state === 'completed' || state === 'failed') await existing.remove();
    else if (state !== 'unknown') return 'already_queued';
  }
  await queue.add('process', { id } satisfies CallbackJob, jobOptions(id));
  return 'queued';
}
