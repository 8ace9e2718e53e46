import type { AppContext } from '../context';
import { getTask, type TaskRow } from '../db/tasks';
import { computeProgress, type TaskProgress } from '../domain/progress';
import type { TaskStatus } from '../domain/task-state';
import { keys } from './redis-scripts';

type Ctx = Pick<AppContext, 'db' | 'redis' | 'realtime' | 'config' | 'logger'>;

/** At most one `task.progress` per task per this many ms, across all processes (a Redis gate). */
export const PROGRESS_MIN_INTERVAL_MS = 250;

export function emitTaskStatus(ctx: Ctx, tenantId: string, taskId: string, status: TaskStatus, extra: Record<string, unknown> = {}): void {
  ctx.realtime.toTenant(tenantId, 'task.status', { task_id: taskId, status, at: new Date().toISOString(), ...extra });
}

/** Current progress of a task from its counters, with the rate measured since the previous snapshot. */
export async function progressSnapshot(ctx: Ctx, taskId: string, opts: { remember?: boolean; task?: TaskRow } = {}): Promise<(TaskProgress & { task_id: string; status: TaskStatus; tenant_id: string }) | null> {
  const t = opts.task ?? (await getTask(ctx.db, taskId));
  if (!t) return null;
  const now = Date.now();
  const sampleKey = keys.progressSample(ctx.config.redis.prefix, taskId);
  const prevRaw = await ctx.redis.get(sampleKey);
  const prev = prevRaw ? (JSON.parse(prevRaw) as { at: number; done: number }) : null;
  const counts = { total: t.total_count, sent: t.sent_count, success: t.success_count, failed: t.failed_count, unknown: t.unknown_count, cancelled: t.cancelled_count, delivered: t.delivered_count, capped: t.capped_count, risk_paused: t.risk_paused_count, skipped: t.skipped_count };
  const elapsed = t.start_time ? (now - t.start_time.getTime()) / 1000 : 0;
  const average = elapsed > 0 ? (t.sent_count + t.cancelled_count + t.capped_count) / elapsed : 0;
  // A sample older than 10 s says little about the current rate; fall back to the average.
  const p = computeProgress(counts, now, prev && now - prev.at < 10_000 ? prev : null, average);
  if (opts.remember && (!prev || now - prev.at >= 1000)) {
    await ctx.redis.set(sampleKey, JSON.stringify({ at: now, done: t.sent_count + t.cancelled_count + t.capped_count }), 'PX', 3600_000);
  }
  return { task_id: t.id, tenant_id: t.tenant_id, status: t.status, ...p };
}

const trailing = new Map<string, NodeJS.Timeout>();

/**
 * Publishes `task.progress` unless one went out for this task within PROGRESS_MIN_INTERVAL_MS (from any
 * process); a suppressed update is retried once after the interval so the last state is never lost.
 */
export async function publishProgress(ctx: Ctx, taskId: string, opts: { force?: boolean } = {}): Promise<void> {
  const gate = await ctx.redis.set(keys.progressGate(ctx.config.redis.prefix, taskId), '1', 'PX', PROGRESS_MIN_INTERVAL_MS, 'NX');
  if (gate !== 'OK' && !opts.force) {
    if (!trailing.has(taskId)) {
      const timer = setTimeout(() => {
        trailing.delete(taskId);
        void publishProgress(ctx, taskId).catch(() => undefined);
      }, PROGRESS_MIN_INTERVAL_MS + 20);
      timer.unref();
      trailing.set(taskId, timer);
    }
    return;
  }
  const snap = await progressSnapshot(ctx, taskId, { remember: true });
  if (!snap) return;
  await ctx.db('batch_send_tasks')
    .where({ id: taskId })
    .whereIn('status', ['running', 'paused'])
    .update({ progress_percent: snap.percent, estimated_duration: snap.eta_seconds });
  const { tenant_id, ...payload } = snap;
  ctx.realtime.toTenant(tenant_id, 'task.progress', payload);
}
