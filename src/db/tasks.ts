import type { Knex } from 'knex';
import type { TaskStatus } from '../domain/task-state';
import type { SendWindow } from '../domain/throttle';
import { parseJson, toJson } from './json';
import { doneOf, taskCounts, taskCountsOf, ZERO_COUNTS, type TaskCounts } from './task-counters';

type Db = Knex | Knex.Transaction;

export interface SendStrategy {
  /** Messages per minute per sending account; 0 = unthrottled. */
  rate_per_minute: number;
  /** Random stretch of each interval, 0..1. */
  jitter: number;
  window?: SendWindow | null;
  retry: { max_attempts: number; backoff_ms: number; backoff: 'fixed' | 'exponential' };
  /** Consecutive send errors that pause the task; 0 = never. */
  error_threshold: number;
}

export const TARGET_TYPES = ['manual', 'import', 'group', 'filter', 'retry'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

export interface TaskRow {
  id: string;
  tenant_id: string;
  creator_id: string;
  task_name: string;
  account_id: string;
  account_ids: string[];
  template_id: string | null;
  message_content: { content: Record<string, unknown>; variables?: Record<string, unknown>; definitions?: unknown[] };
  target_type: TargetType;
  target_config: Record<string, unknown>;
  send_strategy: SendStrategy;
  priority: number;
  scheduled_time: Date | null;
  status: TaskStatus;
  total_count: number;
  sent_count: number;
  success_count: number;
  failed_count: number;
  /** Sends whose outcome the gateway could not establish (status `unknown`); part of sent_count. */
  unknown_count: number;
  cancelled_count: number;
  delivered_count: number;
  skipped_count: number;
  /** Messages skipped by the frequency cap (status `skipped`). */
  capped_count: number;
  /** Risk pauses of the task's accounts while it sent. */
  risk_paused_count: number;
  progress_percent: number;
  start_time: Date | null;
  end_time: Date | null;
  estimated_duration: number | null;
  error_message: string | null;
  expansion_cursor: number;
  expansion_done: boolean;
  consecutive_errors: number;
  target_errors: Array<{ line?: number; index?: number; error: string }>;
  /** For a retry task (`target_type = 'retry'`): the task whose failed recipients it sends again. */
  retry_of?: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Counter fields of TaskRow: summed from `task_counters` (src/db/task-counters.ts), not columns of the row. */
type CounterField = 'sent_count' | 'success_count' | 'failed_count' | 'unknown_count' | 'cancelled_count' | 'delivered_count' | 'capped_count' | 'risk_paused_count';

export function decodeTask(row: Record<string, unknown>, counts: TaskCounts = ZERO_COUNTS): TaskRow {
  return {
    ...(row as unknown as TaskRow),
    sent_count: counts.sent,
    success_count: counts.success,
    failed_count: counts.failed,
    unknown_count: counts.unknown,
    cancelled_count: counts.cancelled,
    delivered_count: counts.delivered,
    capped_count: counts.capped,
    risk_paused_count: counts.risk_paused,
    account_ids: parseJson(row.account_ids, [row.account_id as string]),
    message_content: parseJson(row.message_content, { content: {} }),
    target_config: parseJson(row.target_config, {}),
    send_strategy: parseJson(row.send_strategy, {} as SendStrategy),
    target_errors: parseJson(row.target_errors, []),
    progress_percent: Number(row.progress_percent),
    expansion_done: Boolean(row.expansion_done),
  };
}

/** Task rows with their counters (one summing query for all of them). */
export async function decodeTasks(db: Db, rows: Array<Record<string, unknown>>): Promise<TaskRow[]> {
  const counts = await taskCountsOf(db, rows.map((r) => r.id as string));
  return rows.map((r) => decodeTask(r, counts.get(r.id as string)));
}

export async function insertTask(db: Db, row: Omit<TaskRow, 'status' | 'total_count' | CounterField | 'skipped_count' | 'progress_percent' | 'start_time' | 'end_time' | 'estimated_duration' | 'error_message' | 'expansion_cursor' | 'expansion_done' | 'consecutive_errors' | 'target_errors' | 'created_at' | 'updated_at'>): Promise<void> {
  await db('batch_send_tasks').insert({
    ...row,
    account_ids: toJson(row.account_ids),
    message_content: toJson(row.message_content),
    target_config: toJson(row.target_config),
    send_strategy: toJson(row.send_strategy),
  });
}

export async function findTask(db: Db, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<TaskRow | undefined> {
  const q = db('batch_send_tasks').where({ tenant_id: tenantId, id }).first();
  if (opts.forUpdate) q.forUpdate();
  const row = await q;
  return row ? decodeTask(row, await taskCounts(db, id)) : undefined;
}

/** Internal lookup by id only (workers act on ids taken from tenant-scoped rows). */
export async function getTask(db: Db, id: string, opts: { forUpdate?: boolean } = {}): Promise<TaskRow | undefined> {
  const q = db('batch_send_tasks').where({ id }).first();
  if (opts.forUpdate) q.forUpdate();
  const row = await q;
  return row ? decodeTask(row, await taskCounts(db, id)) : undefined;
}

/** Conditional state change: only from one of `from`; returns whether it happened. */
export async function transitionTask(db: Db, id: string, from: readonly TaskStatus[], to: TaskStatus, extra: Record<string, unknown> = {}): Promise<boolean> {
  const n = await db('batch_send_tasks')
    .where({ id })
    .whereIn('status', from as TaskStatus[])
    .update({ status: to, ...extra });
  return n > 0;
}

export interface TaskFilters {
  status?: TaskStatus;
  account_id?: string;
  q?: string;
}

export function taskListQuery(db: Knex, tenantId: string, f: TaskFilters): Knex.QueryBuilder {
  const q = db('batch_send_tasks').where({ tenant_id: tenantId });
  if (f.status) q.andWhere({ status: f.status });
  if (f.account_id) q.andWhereRaw('JSON_CONTAINS(account_ids, JSON_QUOTE(?))', [f.account_id]);
  if (f.q) q.andWhere('task_name', 'like', `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  return q;
}

/** Running tasks that send through `accountId` (the per-account sender's sources). */
export async function runningTasksOfAccount(db: Db, tenantId: string, accountId: string): Promise<Array<Pick<TaskRow, 'id' | 'priority' | 'send_strategy'>>> {
  const rows = await db('batch_send_tasks')
    .select('id', 'priority', 'send_strategy')
    .where({ tenant_id: tenantId, status: 'running' })
    .andWhereRaw('JSON_CONTAINS(account_ids, JSON_QUOTE(?))', [accountId]);
  return rows.map((r: Record<string, unknown>) => ({ id: r.id as string, priority: r.priority as number, send_strategy: parseJson(r.send_strategy, {} as SendStrategy) }));
}

/**
 * Ends a running task whose messages are all terminal (and whose expansion is done). Returns the new
 * status when this call ended it. The counters only grow towards the total (sent and cancelled never
 * go back), so counts read before the conditional update can only be stale on the safe side.
 */
export async function completeIfDone(db: Db, id: string, known?: TaskCounts): Promise<'completed' | 'failed' | null> {
  const c = known ?? (await taskCounts(db, id));
  const status = c.success === 0 && c.failed > 0 ? 'failed' : 'completed';
  const [res] = (await db.raw(
    `UPDATE batch_send_tasks
        SET status = ?, end_time = NOW(3), progress_percent = 100.00, estimated_duration = 0
      WHERE id = ? AND status = 'running' AND expansion_done = 1 AND total_count <= ?`,
    [status, id, doneOf(c)],
  )) as [{ affectedRows: number }];
  return res.affectedRows ? status : null;
}
