import type { AppContext } from '../context';
import { completeIfDone } from '../db/tasks';
import type { FlushedTasks } from './status-writer';
import { emitTaskStatus, publishProgress } from './task-events';

type Ctx = Pick<AppContext, 'db' | 'redis' | 'realtime' | 'config' | 'logger'>;

/**
 * After counters moved: pause a task whose consecutive-error streak reached its threshold, end a task
 * whose every message is terminal, and publish (coalesced) progress.
 */
export async function settleTasks(ctx: Ctx, flushed: FlushedTasks): Promise<void> {
  for (const [taskId, info] of flushed.tasks) {
    await pauseOnErrorThreshold(ctx, taskId, info.tenantId, info.lastError);
    await finishIfDone(ctx, taskId, info.tenantId);
    await publishProgress(ctx, taskId);
  }
}

export async function pauseOnErrorThreshold(ctx: Ctx, taskId: string, tenantId: string, lastError?: string): Promise<boolean> {
  const threshold = `CAST(JSON_EXTRACT(send_strategy, '$.error_threshold') AS UNSIGNED)`;
  const [res] = (await ctx.db.raw(
    `UPDATE batch_send_tasks
        SET status = 'paused',
            error_message = CONCAT('paused after ', consecutive_errors, ' consecutive send errors', IF(? IS NULL, '', CONCAT(' (last: ', ?, ')')))
      WHERE id = ? AND status = 'running' AND ${threshold} > 0 AND consecutive_errors >= ${threshold}`,
    [lastError ?? null, (lastError ?? '').slice(0, 500), taskId],
  )) as [{ affectedRows: number }];
  if (!res.affectedRows) return false;
  const row = await ctx.db('batch_send_tasks').select('error_message').where({ id: taskId }).first();
  emitTaskStatus(ctx, tenantId, taskId, 'paused', { reason: 'error_threshold', error_message: row?.error_message });
  ctx.logger.warn({ taskId, error: row?.error_message }, 'task paused by its error threshold');
  return true;
}

export async function finishIfDone(ctx: Ctx, taskId: string, tenantId: string): Promise<void> {
  const ended = await completeIfDone(ctx.db, taskId);
  if (ended) {
    emitTaskStatus(ctx, tenantId, taskId, ended);
    await publishProgress(ctx, taskId, { force: true });
  }
}
