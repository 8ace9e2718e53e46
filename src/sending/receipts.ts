import type { Knex } from 'knex';
import type { AppContext } from '../context';
import type { DeliveryReceipt } from '../gateway/callback-protocol';
import { addTaskCounts } from '../db/task-counters';
import { publishProgress } from './task-events';

/**
 * Delivery receipts (callback notify_type 3): a sent message becomes delivered, or failed with the
 * platform's reason. Conditional on status = 'sent', so applying the same receipts twice changes
 * nothing the second time, and task counters move by exactly the rows changed (delivered_count up; a
 * failed receipt moves one message from success_count to failed_count).
 *
 * Receipts can overtake the sender's batched status write (the row is still `sending` and has no
 * wework_msg_id yet). Those are not lost: after applying what matched, this throws
 * UnmatchedReceiptsError (retryable), and the callback processor retries the event later.
 */
export class UnmatchedReceiptsError extends Error {
  readonly retryable = true;
  constructor(readonly msgIds: string[]) {
    super(`${msgIds.length} receipt(s) match no sent message yet: ${msgIds.slice(0, 5).join(', ')}`);
    this.name = 'UnmatchedReceiptsError';
  }
}

export interface ReceiptResult {
  delivered: number;
  failed: number;
  /** Receipts for messages already past `sent` (duplicates): ignored. */
  ignored: number;
}

export async function applyDeliveryReceipts(
  ctx: Pick<AppContext, 'db' | 'redis' | 'realtime' | 'config' | 'logger'>,
  guid: string,
  receipts: DeliveryReceipt[],
): Promise<ReceiptResult> {
  const result: ReceiptResult = { delivered: 0, failed: 0, ignored: 0 };
  if (!receipts.length) return result;
  const account = await ctx.db('wework_accounts').select('id').where({ guid }).first();
  if (!account) return { ...result, ignored: receipts.length };
  const latest = new Map<string, DeliveryReceipt>();
  for (const r of receipts) latest.set(r.msg_id, r);
  const msgIds = [...latest.keys()];
  const touched = new Set<string>();
  const unmatched: string[] = [];

  await ctx.db.transaction(async (trx) => {
    const rows: Array<{ id: string; created_at: Date; batch_id: string | null; status: string; wework_msg_id: string }> = await trx('messages')
      .select('id', 'created_at', 'batch_id', 'status', 'wework_msg_id')
      .where({ account_id: account.id })
      .whereIn('wework_msg_id', msgIds);
    const found = new Set(rows.map((r) => r.wework_msg_id));
    for (const m of msgIds) if (!found.has(m)) unmatched.push(m);
    const sent = rows.filter((r) => r.status === 'sent');
    result.ignored += rows.length - sent.length;
    const perTask = new Map<string, { delivered: number; failed: number }>();
    // One multi-row UPDATE per (task, outcome): counters move by exactly the rows it changed.
    const groups = new Map<string, typeof sent>();
    for (const r of sent) {
      const key = `${latest.get(r.wework_msg_id)!.status}|${r.batch_id ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const [key, group] of groups) {
      const [kind, taskId] = key.split('|') as ['delivered' | 'failed', string];
      const n = await updateGroup(trx, group, kind, latest);
      result[kind] += n;
      if (taskId && n) {
        const c = perTask.get(taskId) ?? { delivered: 0, failed: 0 };
        c[kind] += n;
        perTask.set(taskId, c);
      }
    }
    for (const [taskId, c] of [...perTask].sort(([a], [b]) => a.localeCompare(b))) {
      await addTaskCounts(trx, taskId, { delivered: c.delivered, success: -c.failed, failed: c.failed });
      touched.add(taskId);
    }
  });
  for (const taskId of touched) await publishProgress(ctx, taskId).catch(() => undefined);
  if (unmatched.length) throw new UnmatchedReceiptsError(unmatched);
  return result;
}

const atOf = (rec: DeliveryReceipt) => new Date(rec.at > 1e12 ? rec.at : rec.at * 1000);

async function updateGroup(
  trx: Knex.Transaction,
  rows: Array<{ id: string; created_at: Date; wework_msg_id: string }>,
  kind: 'delivered' | 'failed',
  latest: Map<string, DeliveryReceipt>,
): Promise<number> {
  const whenThen = (value: (rec: DeliveryReceipt) => unknown) => {
    const bindings: Knex.RawBinding[] = [];
    for (const r of rows) bindings.push(r.id, value(latest.get(r.wework_msg_id)!) as Knex.RawBinding);
    return { sql: `CASE id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END`, bindings };
  };
  const times = [...new Set(rows.map((r) => r.created_at.getTime()))].map((t) => new Date(t));
  const where = `id IN (${rows.map(() => '?').join(',')}) AND created_at IN (${times.map(() => '?').join(',')}) AND status = 'sent'`;
  const whereBindings: Knex.RawBinding[] = [...rows.map((r) => r.id), ...times];
  const at = whenThen(atOf);
  let sql: string;
  let bindings: Knex.RawBinding[];
  if (kind === 'delivered') {
    sql = `UPDATE messages SET status = 'delivered', callback_time = ${at.sql} WHERE ${where}`;
    bindings = [...at.bindings, ...whereBindings];
  } else {
    const code = whenThen((rec) => (rec.error_code ?? 'delivery_failed').slice(0, 50));
    const msg = whenThen((rec) => rec.error_message ?? 'delivery failed');
    sql = `UPDATE messages SET status = 'failed', callback_time = ${at.sql}, error_code = ${code.sql}, error_message = ${msg.sql} WHERE ${where}`;
    bindings = [...at.bindings, ...code.bindings, ...msg.bindings, ...whereBindings];
  }
  const [res] = (await trx.raw(sql, bindings)) as [{ affectedRows: number }];
  return res.affectedRows;
}
