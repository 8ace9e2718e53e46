import type { JobsOptions } from 'bullmq';
import type { AppContext } from '../context';
import { QUEUE } from '../queues/names';

/**
 * Producer side of the callback-process queue. Jobs carry only callback_events ids (the row is the
 * truth). Two kinds:
 * - `process-batch` {ids}: what the webhook enqueues after a group commit, one job per committed batch
 *   (jobId `batch-<first id>`). Measured: one BullMQ job per event cost ~15 % of the webhook's CPU per
 *   event; one per batch makes that negligible.
 * - `process` {id}: one event, jobId = the event id, so the sweeper, a re-drive and a retry of the same
 *   event never make two jobs. Retries of an event that failed inside a batch continue as this kind.
 * Processing claims each event with a conditional update, so an event reached by both kinds (a batch job
 * and a sweeper job) is still applied once.
 */
export interface CallbackJob {
  id: string;
}

export interface CallbackBatchJob {
  ids: string[];
}

export const PROCESS_JOB = 'process';
export const PROCESS_BATCH_JOB = 'process-batch';
export const CALLBACK_JOB_ATTEMPTS = 5;
/** The worker's backoff strategy computes the delay (exponential, configurable there for tests). */
export const CALLBACK_BACKOFF_TYPE = 'callback-backoff';

const eventJobOptions = (id: string, attempts = CALLBACK_JOB_ATTEMPTS, delay?: number): JobsOptions => ({
  jobId: id,
  attempts,
  backoff: { type: CALLBACK_BACKOFF_TYPE },
  ...(delay ? { delay } : {}),
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
 * Runs one enqueue without ever throwing or waiting long: when Redis is slow or down the events stay
 * `received` in MySQL and the sweeper enqueues them later. Returns how many events were handed over.
 */
async function guardedEnqueue(ctx: AppContext, count: number, add: () => Promise<unknown>): Promise<number> {
  if (count === 0) return 0;
  if (inFlight >= MAX_IN_FLIGHT) {
    ctx.logger.warn({ count }, 'callback enqueue backlog full; leaving events to the sweeper');
    return 0;
  }
  inFlight += count;
  try {
    // Only hand commands to a connected client: while Redis is down, ioredis would keep every add in its
    // offline queue (memory growing with the outage) even after we stopped waiting for it.
    const client = await withTimeout(ctx.queues.get(QUEUE.callbackProcess).backend.client, 500);
    if (client.status !== 'ready') throw new Error(`redis ${client.status}`);
    await withTimeout(add(), ENQUEUE_TIMEOUT_MS);
    return count;
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message, count }, 'callback enqueue failed; the sweeper will retry');
    return 0;
  } finally {
    inFlight -= count;
  }
}

/** One job for a freshly committed batch of events (the webhook's path). */
export function enqueueCallbackBatch(ctx: AppContext, ids: string[]): Promise<number> {
  return guardedEnqueue(ctx, ids.length, () =>
    ctx.queues.get(QUEUE.callbackProcess).add(PROCESS_BATCH_JOB, { ids } satisfies CallbackBatchJob, {
      jobId: `batch-${ids[0]}`,
      attempts: CALLBACK_JOB_ATTEMPTS,
      backoff: { type: CALLBACK_BACKOFF_TYPE },
      removeOnComplete: 1000,
      removeOnFail: 5000,
    }),
  );
}

/** One job per event, in bulk (the sweeper's path); an event that already has its job is not doubled. */
export function enqueueCallbackJobs(ctx: AppContext, ids: string[]): Promise<number> {
  return guardedEnqueue(ctx, ids.length, () =>
    ctx.queues
      .get(QUEUE.callbackProcess)
      .addBulk(ids.map((id) => ({ name: PROCESS_JOB, data: { id } satisfies CallbackJob, opts: eventJobOptions(id) }))),
  );
}

/**
 * Enqueues one event again (re-drive, sweep of a stuck claim, retry after a failure inside a batch): a
 * finished (completed/failed) job under the same id would swallow the add, so it is removed first; a
 * waiting, delayed or active job is left alone. `attempts`/`delayMs` let a retry continue the event's
 * attempt budget.
 */
export async function requeueCallbackJob(
  ctx: AppContext,
  id: string,
  opts: { attempts?: number; delayMs?: number } = {},
): Promise<'queued' | 'already_queued'> {
  const queue = ctx.queues.get(QUEUE.callbackProcess);
  const existing = await queue.getJob(id);
  if (existing) {
    const state = await existing.getState();
    if (state === 'completed' || state === 'failed') await existing.remove();
    else if (state !== 'unknown') return 'already_queued';
  }
  await queue.add(PROCESS_JOB, { id } satisfies CallbackJob, eventJobOptions(id, opts.attempts, opts.delayMs));
  return 'queued';
}
