import type { AppContext } from '../context';
import { withDeadlockRetry } from '../db/deadlock-retry';
import { addTaskCounts } from '../db/task-counters';
import { QUEUE } from '../queues/names';
import { redisKey } from '../redis';
import { acquireLock } from './redis-scripts';

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
 * side: each chunk changes only rows still pending and counts exactly what it changed. Stops after
 * `budgetMs` (returns `more: true`), so a big drain takes turns with other jobs.
 */
export async function drainCancelledTask(ctx: Pick<AppContext, 'db'>, taskId: string, chunk = DRAIN_CHUNK, budgetMs = Infinity): Promise<{ cancelled: number; more: boolean }> {
  const until = Date.now() + budgetMs;
  let cancelled = 0;
  for (;;) {
    const n = await withDeadlockRetry(() =>
      ctx.db.transaction(async (trx) => {
        const [res] = (await trx.raw(`UPDATE messages SET status = 'cancelled' WHERE batch_id = ? AND status = 'pending' LIMIT ?`, [taskId, chunk])) as [{ affectedRows: number }];
        await addTaskCounts(trx, taskId, { cancelled: res.affectedRows });
        return res.affectedRows;
      }),
    );
    cancelled += n;
    if (n < chunk) return { cancelled, more: false };
    if (Date.now() >= until) return { cancelled, more: true };
    // Let the event loop and other callers of the pool in between chunks.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Drain work per job before it yields its worker slot (expansions and other drains queue behind it). */
export const DRAIN_SLICE_MS = 2_000;

export const drainLockKey = (prefix: string, taskId: string) => redisKey(prefix, 'drain', 'lock', taskId);

/**
 * One drain job: up to DRAIN_SLICE_MS of chunks under the task's drain lock (a second job for the same
 * task leaves at once), then a fresh job at the back of the queue when there is more.
 */
export async function runDrainJob(ctx: Pick<AppContext, 'db' | 'queues' | 'redis' | 'config'>, taskId: string, budgetMs = DRAIN_SLICE_MS): Promise<'done' | 'more' | 'busy'> {
  const lock = await acquireLock(ctx.redis, drainLockKey(ctx.config.redis.prefix, taskId), 30_000);
  if (!lock) return 'busy';
  let more = false;
  try {
    more = (await drainCancelledTask(ctx, taskId, DRAIN_CHUNK, budgetMs)).more;
  } finally {
    await lock.release();
  }
  if (more) await enqueueDrain(ctx, taskId, 'continue');
  return more ? 'more' : 'done';
}

/** Queues the drain of a cancelled task (the expansion worker runs it); kicks within a second share a job. */
export async function enqueueDrain(ctx: Pick<AppContext, 'queues'>, taskId: string, kind: 'kick' | 'continue' = 'kick'): Promise<void> {
  await ctx.queues.get(QUEUE.taskExpand).add(DRAIN_JOB, { taskId } satisfies DrainJob, {
    jobId: `drain-${kind}-${taskId}-${Math.floor(Date.now() / 1000)}`,
    removeOnComplete: true,
    removeOnFail: true,
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
  });
}

/**
 * Cancelled tasks (ended within `sinceHours`) that still have pending messages and no drain running: a
 * drain lost with its worker, or a message that came back to pending (a retry result) after the drain
 * passed. For the sweeper.
 */
export async function undrainedTasks(ctx: Pick<AppContext, 'db' | 'redis' | 'config'>, sinceHours = 24, limit = 50): Promise<string[]> {
  return ctx.db('batch_send_tasks as t')
    .where('t.status', 'cancelled')
    .andWhere('t.end_time', '>', ctx.db.raw('NOW(3) - INTERVAL ? HOUR', [sinceHours]))
    .whereExists((q) => q.select(ctx.db.raw('1')).from('messages as m').whereRaw('m.batch_id = t.id').andWhere('m.status', 'pending'))
    .limit(limit)
    .pluck('t.id')
    .then(async (ids: string[]) => {
      const held = ids.length ? await ctx.redis.mget(...ids.map((id) => drainLockKey(ctx.config.redis.prefix, id))) : [];
      return ids.filter((_, i) => !held[i]);
    });
}
