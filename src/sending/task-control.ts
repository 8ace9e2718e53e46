import type { Knex } from 'knex';
import { taskStatusEvent } from '../webhooks/domain-events';
import { publishWebhookEvents } from '../webhooks/publish';
import type { AppContext } from '../context';
import { decodeTask, getTask, type TaskRow } from '../db/tasks';
import { nextTaskStatus, type TaskAction } from '../domain/task-state';
import { NotFoundError } from '../errors';
import { enqueueExpansion, kickAccounts } from './kicks';
import { withDeadlockRetry } from '../db/deadlock-retry';
import { emitTaskStatus, publishProgress } from './task-events';
import { enqueueDrain } from './task-drain';

type Ctx = Pick<AppContext, 'db' | 'redis' | 'queues' | 'realtime' | 'config' | 'logger'>;

/**
 * Operator (or scheduler) actions on a task: the legal step is decided by the pure state machine, then
 * written under the task's row lock together with the audit row; queue kicks and events follow the
 * commit. The transaction touches the task row only, however big the task: a cancel's senders stop on
 * the new status (they read it before every send), and its pending messages are cancelled afterwards,
 * in chunks, by a queued drain (src/sending/task-drain.ts).
 */
export async function applyTaskAction(
  ctx: Ctx,
  tenantId: string,
  taskId: string,
  action: Extract<TaskAction, 'start' | 'pause' | 'resume' | 'cancel'>,
  audit?: (trx: Knex.Transaction, from: string) => Promise<void>,
): Promise<TaskRow> {
  // A deadlock victim runs again rather than failing the operator's request.
  const task = await withDeadlockRetry(() => ctx.db.transaction(async (trx) => {
    const row = await trx('batch_send_tasks').where({ tenant_id: tenantId, id: taskId }).forUpdate().first();
    if (!row) throw new NotFoundError('task', taskId);
    const current = decodeTask(row);
    const to = nextTaskStatus(current.status, action);
    const extra: Record<string, unknown> = {};
    if (action === 'start') {
      extra.start_time = current.start_time ?? trx.fn.now(3);
      extra.error_message = null;
    }
    if (action === 'resume') {
      extra.consecutive_errors = 0;
      extra.error_message = null;
    }
    if (action === 'cancel') extra.end_time = trx.fn.now(3);
    await trx('batch_send_tasks').where({ id: taskId }).update({ status: to, ...extra });
    await audit?.(trx, current.status);
    await publishWebhookEvents(trx, tenantId, [taskStatusEvent(taskId, to, { action })]);
    return decodeTask(await trx('batch_send_tasks').where({ id: taskId }).first());
  }));
  if (action === 'cancel') await enqueueDrain(ctx, taskId);
  emitTaskStatus(ctx, tenantId, taskId, task.status, { action });
  if (action === 'start') await enqueueExpansion(ctx, taskId);
  if (action === 'resume') {
    if (!task.expansion_done) await enqueueExpansion(ctx, taskId);
    await kickAccounts(ctx, task.account_ids);
  }
  if (action === 'cancel' || action === 'pause') await publishProgress(ctx, taskId, { force: true });
  return (await getTask(ctx.db, taskId)) ?? task;
}
