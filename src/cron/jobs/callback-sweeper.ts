import type { AppContext } from '../../context';
import { enqueueCallbackJobs } from '../../callbacks/queue';
import { requeueWithin } from '../../callbacks/redrive';
import { findStuckCallbackEvents } from '../../db/callbacks';
import type { CronJob } from '../job';

/** A received event younger than this is probably still on its way through the queue. */
export const RECEIVED_GRACE_MS = 10_000;
/** A processing claim older than this belongs to a worker that died (processing takes milliseconds). */
export const PROCESSING_TIMEOUT_MS = 5 * 60_000;
const BATCH = 1000;

/**
 * Durability net for callbacks: an acknowledged event is in MySQL even when Redis or the workers were
 * down, so every few seconds events still `received` after a grace period are enqueued again (same
 * jobId, so an event already in the queue is not doubled), and claims abandoned by dead workers are
 * released and enqueued.
 */
export async function sweepCallbacks(
  ctx: AppContext,
  now: Date,
  opts: { receivedGraceMs?: number; processingTimeoutMs?: number } = {},
): Promise<{ requeued: number; reclaimed: number; enqueue_failed: number }> {
  const { received, reclaimed } = await findStuckCallbackEvents(ctx.db, {
    receivedBefore: new Date(now.getTime() - (opts.receivedGraceMs ?? RECEIVED_GRACE_MS)),
    processingBefore: new Date(now.getTime() - (opts.processingTimeoutMs ?? PROCESSING_TIMEOUT_MS)),
    limit: BATCH,
  });
  // A stuck job may sit in the queue as completed/failed under the same id; requeue removes it first.
  let failed = 0;
  for (const id of reclaimed) if (!(await requeueWithin(ctx, id, 2000))) failed++;
  // Most stuck received events were simply never enqueued (Redis was down): one bulk add. An event still
  // received long after that may have a finished job under its id swallowing the add: requeue it singly.
  const added = await enqueueCallbackJobs(ctx, received.map((r) => r.id));
  if (added === 0 && received.length > 0) failed += received.length;
  const veryOld = now.getTime() - (opts.processingTimeoutMs ?? PROCESSING_TIMEOUT_MS);
  for (const r of received.filter((x) => x.receivedTime.getTime() < veryOld).slice(0, 100)) {
    if (!(await requeueWithin(ctx, r.id, 2000))) break;
  }
  return { requeued: added, reclaimed: reclaimed.length, enqueue_failed: failed };
}

export const callbackSweeperJob: CronJob = {
  name: 'callback-sweeper',
  schedule: '*/15 * * * * *',
  lockTtlMs: 60_000,
  run: (ctx, now) => sweepCallbacks(ctx, now),
};
