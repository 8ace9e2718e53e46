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

/**
 * Customer group-sends of the official channel that staff have not confirmed yet: messages `sent` with a
 * group-send id (`gs:`) and no result. Only counted for tasks on official accounts (a cheap check
 * first), so other tasks pay nothing.
 */
async function waitingForStaff(ctx: Ctx, t: TaskRow): Promise<number> {
  if (t.account_ids.length === 0) return 0;
  if (!(await hasOfficialAccount(ctx, t.account_ids))) return 0;
  const row = await ctx.db('messages').where({ batch_id: t.id, status: 'sent' }).andWhere('wework_msg_id', 'like', 'gs:%').count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/**
 * Whether any of these accounts is on the official channel. A channel is fixed at an account's creation,
 * so the answer for a set of account ids never changes: remembered per set (a progress snapshot runs up
 * to four times a second per task, and asked MySQL each time). Bounded: the memo starts over past 10,000 sets.
 */
const officialBySet = new Map<string, boolean>();
async function hasOfficialAccount(ctx: Ctx, accountIds: readonly string[]): Promise<boolean> {
  const key = [...accountIds].sort().join(',');
  const known = officialBySet.get(key);
  if (known !== undefined) return known;
  const official = Boolean(await ctx.db('wework_accounts').whereIn('id', accountIds).andWhere('channel', 'official').first('id'));
  if (officialBySet.size >= 10_000) officialBySet.clear();
  officialBySet.set(key, official);
  return official;
}

/** The stage a task's operators see: `waiting_for_staff_confirmation` once only staff confirmations are left. */
export type ProgressStage = 'sending' | 'waiting_for_staff_confirmation' | 'done';

/** Current progress of a task from its counters, with the rate measured since the previous snapshot. */
export async function progressSnapshot(
  ctx: Ctx,
  taskId: string,
  opts: { remember?: boolean; task?: TaskRow } = {},
): Promise<(TaskProgress & { task_id: string; status: TaskStatus; tenant_id: string; waiting_for_staff_confirmation: number; stage: ProgressStage }) | null> {
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
  const waiting = await waitingForStaff(ctx, t);
  const stage: ProgressStage = p.counts.pending > 0 ? 'sending' : waiting > 0 ? 'waiting_for_staff_confirmation' : 'done';
  return { task_id: t.id, tenant_id: t.tenant_id, status: t.status, ...p, waiting_for_staff_confirmation: waiting, stage };
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
