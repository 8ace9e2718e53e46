import type { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

/**
 * A task's message counters, kept in `task_counters` as a few shard rows per task instead of columns of
 * the task row. Writers add deltas to one shard (chosen at random) in the same transaction as the
 * message status change they count, so the counts are exact under any number of concurrent writers and
 * through crashes; two writers only queue on each other when they pick the same shard. Readers sum the
 * shards (at most SHARDS rows per task, read by primary key).
 */
export interface TaskCounts {
  /** Attempts that ended: success + failed + unknown (failed receipts move success to failed). */
  sent: number;
  success: number;
  failed: number;
  /** Sends in doubt (status `unknown`); part of `sent`. */
  unknown: number;
  cancelled: number;
  delivered: number;
  /** Messages skipped by the recipient frequency cap (status `skipped`, reason `frequency_capped`): ended, not failed. */
  capped: number;
  /** Times an account of the task was paused for risk while the task sent (not a message count). */
  risk_paused: number;
}

export const COUNTER_FIELDS = ['sent', 'success', 'failed', 'unknown', 'cancelled', 'delivered', 'capped', 'risk_paused'] as const satisfies ReadonlyArray<keyof TaskCounts>;

/** Shard rows per task: enough that concurrent flushes (lanes × processes) rarely meet on one. */
export const SHARDS = 16;

export const ZERO_COUNTS: Readonly<TaskCounts> = Object.freeze({ sent: 0, success: 0, failed: 0, unknown: 0, cancelled: 0, delivered: 0, capped: 0, risk_paused: 0 });

/**
 * Adds `delta` to the task's counters inside `trx` (the transaction that changed the messages it
 * counts). A zero delta writes nothing.
 */
export async function addTaskCounts(trx: Knex.Transaction, taskId: string, delta: Partial<TaskCounts>, shard = Math.floor(Math.random() * SHARDS)): Promise<void> {
  const values = COUNTER_FIELDS.map((f) => Math.trunc(delta[f] ?? 0));
  if (values.every((v) => v === 0)) return;
  await trx.raw(
    `INSERT INTO task_counters (task_id, shard, ${COUNTER_FIELDS.join(', ')}) VALUES (?, ?, ${COUNTER_FIELDS.map(() => '?').join(', ')})
     ON DUPLICATE KEY UPDATE ${COUNTER_FIELDS.map((f) => `${f} = ${f} + VALUES(${f})`).join(', ')}`,
    [taskId, shard % SHARDS, ...values],
  );
}

/** The counts of many tasks at once (missing tasks count zero). */
export async function taskCountsOf(db: Db, taskIds: readonly string[]): Promise<Map<string, TaskCounts>> {
  const out = new Map<string, TaskCounts>();
  const ids = [...new Set(taskIds)];
  for (const id of ids) out.set(id, { ...ZERO_COUNTS });
  if (!ids.length) return out;
  const rows: Array<Record<string, unknown>> = await db('task_counters')
    .select('task_id', ...COUNTER_FIELDS.map((f) => db.raw(`SUM(${f}) AS ${f}`)))
    .whereIn('task_id', ids)
    .groupBy('task_id');
  for (const r of rows) {
    const c = out.get(r.task_id as string)!;
    for (const f of COUNTER_FIELDS) c[f] = Number(r[f] ?? 0);
  }
  return out;
}

export async function taskCounts(db: Db, taskId: string): Promise<TaskCounts> {
  return (await taskCountsOf(db, [taskId])).get(taskId)!;
}

/** Messages of the task that reached an end: every attempt that ended, every cancelled and every capped one. */
export function doneOf(c: TaskCounts): number {
  return c.sent + c.cancelled + c.capped;
}

/** doneOf as a scalar subquery over the shards of the task whose id is `taskIdSql` (for reads that want it with the task row). */
export const doneSql = (taskIdSql: string): string =>
  `(SELECT COALESCE(SUM(c.sent + c.cancelled + c.capped), 0) FROM task_counters c WHERE c.task_id = ${taskIdSql})`;
