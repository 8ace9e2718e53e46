import type { AppContext } from '../context';
import { withDeadlockRetry } from '../db/deadlock-retry';
import { addTaskCounts } from '../db/task-counters';
import { QUEUE } from '../queues/names';

type Ctx = Pick<AppContext, 'db' | 'queues' | 'logger'>;

/** Messages changed per transaction: short row locks, a bounded undo log, one connection at a time. */
export const DRAIN_CHUNK = 1000;

export const DRAIN_JOB = 'drain';

export interface DrainJob {
  taskId: string;
}

/**
 * Cancels a cancelled task's pending messages in chunks, each its own short transaction that also
 * counts them, so neither the operator's request nor other tenants wait on one long transaction over
 * a big task (issue 17). Senders stop on their own as soon as the task row says `cancelled` (they read
 * it before every send); this only tidies the rows no one will claim. Safe to run twice or side by
 * side: each chunk changes only rows still pending and counts exactly what it changed.
 */
export async function drainCancelledTask(ctx: Pick<AppContext, 'db'>, taskId: string, chunk = DRAIN_CHUNK): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await withDeadlockRetry(() =>
      ctx.db.transaction(async (trx) => {
        const [res] = (await trx.raw(`UPDATE messages SET status = 'cancelled' WHERE batch_id = ? AND status = 'pending' LIMIT ?`, [taskId, chunk])) as [{ affectedRows: number }];
        await addTaskCounts(trx, taskId, { cancelled: res.affectedRows });
        return res.affectedRows;
      }),
    );
    total += n;
    if (n < chunk) return total;
    // Let the event loop and other callers of the pool in between chunks.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Queues the drain of a cancelled task (the expansion worker runs it); kicks within a second share a job. */
export async function enqueueDrain(ctx: Pick<AppContext, 'queues'>, taskId: string): Promise<void> {
  await ctx.queues.get(QUEUE.taskExpand).add(DRAIN_JOB, { taskId } satisfies DrainJob, {
    jobId: `drain-${taskId}-${Math.floor(Date.now() / 1000)}`,
    removeOnComplete: true,
    removeOnFail: true,
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
  });
}

/**
 * Cancelled tasks (ended within `sinceHours`) that still have pending messages: a drain lost with its
 * worker, or a message that came back to pending (a retry result) after the drain passed. For the sweeper.
 */
export async function undrainedTasks(ctx: Ctx, sinceHours = 24, limit = 50): Promise<string[]> {
  return ctx.db('batch_send_tasks as t')
    .where('t.status', 'cancelled')
    .andWhere('t.end_time', '>', ctx.db.raw('NOW(3) - INTERVAL ? HOUR', [sinceHours]))
    .whereExists((q) => q.select(ctx.db.raw('1')).from('messages as m').whereRaw('m.batch_id = t.id').andWhere('m.status', 'pending'))
    .limit(limit)
    .pluck('t.id');
}
