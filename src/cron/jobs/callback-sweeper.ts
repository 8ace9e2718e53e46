import type { AppContext } from '../../context';
import { enqueueCallbackJobs } from '../../callbacks/queue';
import { requeueWithin } from '../../callbacks/redrive';
import { findReceivedBefore, releaseStuckClaims } from '../../db/callbacks';
import type { CronJob } from '../job';

/** A received event younger than this is probably still on its way through the queue. */
export const RECEIVED_GRACE_MS = 10_000;
/**
 * The lease of a processing claim: older than this, it belongs to a worker that died (processing takes
 * milliseconds), and the event is taken again. Safe if the first worker was only slow: finishing checks
 * the claim in the same transaction, so one of the two applies the event and the other rolls back.
 */
export const PROCESSING_TIMEOUT_MS = 60_000;
const PAGE = 1000;
/** Per run; a backlog larger than this (Redis down for long under load) drains over the next runs. */
const MAX_PER_RUN = 50_000;

/**
 * Durability net for callbacks: an acknowledged event is in MySQL even when Redis or the workers were
 * down. Each run enqueues events still `received` after a grace period (same jobId as the ingest job, so
 * an event already in the queue is not doubled) and releases claims abandoned by dead workers.
 */
export async function sweepCallbacks(
  ctx: AppContext,
  now: Date,
  opts: { receivedGraceMs?: number; processingTimeoutMs?: number } = {},
): Promise<{ requeued: number; reclaimed: number; enqueue_failed: number }> {
  const processingBefore = new Date(now.getTime() - (opts.processingTimeoutMs ?? PROCESSING_TIMEOUT_MS));
  let failed = 0;
  // A released claim's job may sit in the queue as completed/failed under the same id: requeue removes it.
  const released = await releaseStuckClaims(ctx.db, processingBefore, PAGE);
  for (const id of released) if (!(await requeueWithin(ctx, id, 2000))) failed++;

  const receivedBefore = new Date(now.getTime() - (opts.receivedGraceMs ?? RECEIVED_GRACE_MS));
  let requeued = 0;
  let seen = 0;
  let after: { t: Date; id: string } | undefined;
  while (seen < MAX_PER_RUN) {
    const page = await findReceivedBefore(ctx.db, receivedBefore, PAGE, after);
    if (page.length === 0) break;
    seen += page.length;
    const added = await enqueueCallbackJobs(ctx, page.map((r) => r.id));
    if (added === 0) {
      // Redis still unreachable: the rest waits for the next run.
      failed += page.length;
      break;
    }
    requeued += added;
    // Still received long after the grace period: a finished job under its id may be swallowing the
    // add (e.g. an event reset by hand); requeue those one by one.
    for (const r of page.filter((x) => x.receivedTime < processingBefore).slice(0, 100)) await requeueWithin(ctx, r.id, 2000);
    const last = page[page.length - 1];
    after = { t: last.receivedTime, id: last.id };
    if (page.length < PAGE) break;
  }
  return { requeued, reclaimed: released.length, enqueue_failed: failed };
}

export const callbackSweeperJob: CronJob = {
  name: 'callback-sweeper',
  schedule: '*/15 * * * * *',
  lockTtlMs: 60_000,
  run: (ctx, now) => sweepCallbacks(ctx, now),
};
