import type { Knex } from 'knex';
import { taskCounts } from '../db/task-counters';
import type { WebhookEvent } from './event-types';
import { publishWebhookEvents } from './publish';

/**
 * The webhook events of the platform's own flows, built from what each flow already has at hand and
 * published inside the flow's transaction (src/webhooks/publish.ts).
 */
type Trx = Knex | Knex.Transaction;

export function taskStatusEvent(taskId: string, status: string, extra: Record<string, unknown> = {}): WebhookEvent {
  return { type: 'task.status', data: { task_id: taskId, status, at: new Date().toISOString(), ...extra } };
}

/** A task that ended: `task.status` and `task.completed` with its summary (counts, times). */
export async function publishTaskEnded(trx: Trx, tenantId: string, taskId: string, status: string): Promise<void> {
  const row = await trx('batch_send_tasks').select('task_name', 'total_count', 'start_time', 'end_time').where({ id: taskId }).first();
  const c = await taskCounts(trx, taskId);
  const summary = { total: Number(row?.total_count ?? 0), sent: c.sent, success: c.success, delivered: c.delivered, failed: c.failed, unknown: c.unknown, cancelled: c.cancelled };
  await publishWebhookEvents(trx, tenantId, [
    taskStatusEvent(taskId, status),
    { type: 'task.completed', data: { task_id: taskId, name: row?.task_name ?? null, status, started_at: row?.start_time ?? null, ended_at: row?.end_time ?? null, summary } },
  ]);
}
