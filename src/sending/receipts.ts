import type { Knex } from 'knex';
import type { WebhookEvent } from '../webhooks/event-types';
import { publishWebhookEvents } from '../webhooks/publish';
import type { AppContext } from '../context';
import type { DeliveryReceipt } from '../gateway/callback-protocol';
import { withDeadlockRetry } from '../db/deadlock-retry';
import { addTaskCounts } from '../db/task-counters';
import { messageIdTime } from './message-ids';
import { keys } from './redis-scripts';
import { publishProgress } from './task-events';

/**
 * Delivery receipts (callback notify_type 3, or a status query's answers): a sent message becomes
 * delivered, or failed with the platform's reason. Conditional on status = 'sent', so applying the same
 * receipts twice changes nothing the second time, and task counters move by exactly the rows changed
 * (delivered up; a failed receipt moves one message from success to failed).
 *
 * A receipt names its message by the send's idempotency key (`client_msg_id`, the message's id), so it
 * is found by primary key; the gateway's own id (`msg_id`) needs no index on `messages`, which every
 * send would write at a random place (issue 17). A receipt without the key is matched by the gateway's
 * id among the account's messages still `sent`; unmatched, it is dropped, and the reconciliation job
 * asks the gateway about the message later.
 *
 * A receipt can overtake the sender's batched status write (the row is still `sending`), or arrive while
 * that write waits out a MySQL outage. Such receipts are kept in `pending_receipts` and applied when the
 * message's `sent` status lands: the status writer looks for them after each flush that recorded sends,
 * and this function looks for the message again after keeping one. Whichever of the two commits last
 * sees the other's row, so none is missed; the pending row is taken under a row lock and deleted in the
 * transaction that applies it, so none is applied twice.
 *
 * The status writer's look costs a query per flush, and receipts almost never overtake the write. So a
 * tenant's kept receipts are announced by a Redis marker (`keys.receiptsKept`), set before the
 * transaction that keeps them commits and held for `RECEIPTS_KEPT_MARKER_MS`: a flush that commits
 * after that transaction sees the marker and looks; without it, no receipt of the tenant can be waiting
 * for that flush. A receipt kept longer than the marker lives is applied by the reconciliation job.
 */
export interface ReceiptResult {
  delivered: number;
  failed: number;
  /** Receipts for messages already past `sent` (duplicates), or naming no message of the account: ignored. */
  ignored: number;
  /** Receipts whose message is not recorded as sent yet: kept until it is. */
  kept: number;
}

type Ctx = Pick<AppContext, 'db' | 'redis' | 'realtime' | 'config' | 'logger'>;
type Query = Knex | Knex.Transaction;

interface MatchedRow {
  id: string;
  tenant_id: string;
  created_at: Date;
  batch_id: string | null;
  status: string;
  wework_msg_id: string | null;
}

const MATCHED_COLS = ['id', 'tenant_id', 'created_at', 'batch_id', 'status', 'wework_msg_id'];

/** The sender has not recorded the send yet: a receipt for such a message waits for it. */
const isUnrecorded = (r: MatchedRow) => r.status === 'pending' || r.status === 'sending';

/** Receipts older than this whose message never showed up are dropped (a gateway's stray ids). */
export const PENDING_RECEIPT_TTL_MS = 7 * 24 * 3600_000;

/** How long a tenant's kept-receipts marker lives after the last receipt kept (a status write held back by a MySQL outage is re-tried for about this long). */
export const RECEIPTS_KEPT_MARKER_MS = 15 * 60_000;

/** Announces that the tenant has (or is about to commit) kept receipts; throws when Redis does not answer, so nothing is kept unannounced. */
async function markReceiptsKept(ctx: Pick<Ctx, 'redis' | 'config'>, tenantId: string): Promise<void> {
  await ctx.redis.set(keys.receiptsKept(ctx.config.redis, tenantId), '1', 'PX', RECEIPTS_KEPT_MARKER_MS);
}

/**
 * Whether a flush of the tenant's sends must look for kept receipts: yes while its marker lives, and
 * when Redis does not answer (then the query decides).
 */
export async function mayHaveKeptReceipts(ctx: Pick<Ctx, 'redis' | 'config'>, tenantId: string): Promise<boolean> {
  try {
    return (await ctx.redis.exists(keys.receiptsKept(ctx.config.redis, tenantId))) > 0;
  } catch {
    return true;
  }
}

/**
 * The account's messages the receipts name, with the latest receipt of each (by message id): keyed
 * receipts by primary key, the others by the gateway's id among the account's `sent` messages (the
 * claim index's range of the account's sends awaiting a receipt).
 */
async function matchMessages(q: Query, accountId: string, receipts: DeliveryReceipt[]): Promise<{ rows: MatchedRow[]; latest: Map<string, DeliveryReceipt> }> {
  const keyed = new Map<string, DeliveryReceipt>();
  const unkeyed = new Map<string, DeliveryReceipt>();
  for (const r of receipts) {
    if (r.client_msg_id) keyed.set(r.client_msg_id, r);
    else unkeyed.set(r.msg_id, r);
  }
  const rows: MatchedRow[] = [];
  const latest = new Map<string, DeliveryReceipt>();
  const add = (row: MatchedRow, receipt: DeliveryReceipt) => {
    if (latest.has(row.id)) return;
    rows.push(row);
    latest.set(row.id, receipt);
  };
  if (keyed.size) {
    for (const row of await findByIds(q, accountId, [...keyed.keys()])) add(row, keyed.get(row.id)!);
  }
  if (unkeyed.size) {
    const found: MatchedRow[] = await q('messages').select(MATCHED_COLS).where({ account_id: accountId, status: 'sent' }).whereIn('wework_msg_id', [...unkeyed.keys()]);
    for (const row of found) add(row, unkeyed.get(row.wework_msg_id!)!);
  }
  return { rows, latest };
}

/** Slack around the times the ids carry: a single message's id and its `created_at` are made moments apart. */
const ID_TIME_SLACK_MS = 24 * 3600_000;

/**
 * The account's messages with these ids. A lookup by id alone looks into every monthly partition, so the
 * ids' own times bound `created_at` first (one or two partitions); ids not found there (of another
 * shape, or stray) are looked for in all of them.
 */
async function findByIds(q: Query, accountId: string, ids: string[]): Promise<MatchedRow[]> {
  const times = ids.map(messageIdTime).filter((t): t is number => t !== null);
  const byId = (list: string[]) => q('messages').select(MATCHED_COLS).where({ account_id: accountId }).whereIn('id', list);
  const found: MatchedRow[] = times.length
    ? await byId(ids).whereBetween('created_at', [new Date(Math.min(...times) - ID_TIME_SLACK_MS), new Date(Math.max(...times) + ID_TIME_SLACK_MS)])
    : [];
  const seen = new Set(found.map((r) => r.id));
  const rest = ids.filter((id) => !seen.has(id));
  return rest.length ? [...found, ...(await byId(rest))] : found;
}

export async function applyDeliveryReceipts(ctx: Ctx, guid: string, receipts: DeliveryReceipt[]): Promise<ReceiptResult> {
  const result: ReceiptResult = { delivered: 0, failed: 0, ignored: 0, kept: 0 };
  if (!receipts.length) return result;
  const account: { id: string; tenant_id: string } | undefined = await ctx.db('wework_accounts').select('id', 'tenant_id').where({ guid }).first();
  if (!account) return { ...result, ignored: receipts.length };
  let waiting: string[] = [];
  const touched = await ctx.db.transaction(async (trx) => {
    const { rows, latest } = await matchMessages(trx, account.id, receipts);
    // Receipts naming no message of this account (another account's, a stray id, or a duplicate in the batch).
    result.ignored += receipts.length - rows.length;
    const unrecorded = rows.filter(isUnrecorded);
    waiting = unrecorded.map((r) => r.id);
    if (waiting.length) {
      // Before the commit: a status flush committing after this transaction must see the marker.
      await markReceiptsKept(ctx, account.tenant_id);
      await keepPending(trx, account.id, unrecorded.map((r) => ({ messageId: r.id, receipt: latest.get(r.id)! })));
    }
    result.kept = waiting.length;
    return applyToRows(trx, rows.filter((r) => !isUnrecorded(r)), latest, result);
  });
  await publishAll(ctx, touched);
  // Kept: the sender's write may have committed while this transaction ran; look once more.
  if (waiting.length) {
    const late = await applyPendingReceipts(ctx, { accountId: account.id, messageIds: waiting });
    result.kept -= late.delivered + late.failed + late.ignored;
    result.delivered += late.delivered;
    result.failed += late.failed;
    result.ignored += late.ignored;
  }
  return result;
}

/**
 * Applies kept receipts whose message is now recorded: those for `messageIds` (after a status flush, or
 * after keeping them), or, without a filter, any (the reconciliation job's sweep, up to `limit`). A
 * receipt whose message has moved past `sent` meanwhile is dropped as a duplicate.
 */
export async function applyPendingReceipts(
  ctx: Ctx,
  filter: { accountId?: string; messageIds?: string[]; limit?: number } = {},
): Promise<Omit<ReceiptResult, 'kept'>> {
  const none = { delivered: 0, failed: 0, ignored: 0 };
  if (filter.messageIds && !filter.messageIds.length) return none;
  // Kept receipts whose message is recorded now (a plain read), then those rows locked: a concurrent
  // applier waits on the lock and then finds them gone.
  const q = ctx.db('pending_receipts as p')
    .select('p.account_id', 'p.message_id')
    .whereExists((w) =>
      w
        .select(ctx.db.raw('1'))
        .from('messages as m')
        .whereRaw('m.id = p.message_id AND m.account_id = p.account_id')
        .whereNotIn('m.status', ['pending', 'sending']),
    )
    .limit(filter.limit ?? 1000);
  if (filter.accountId) q.where('p.account_id', filter.accountId);
  if (filter.messageIds) q.whereIn('p.message_id', filter.messageIds);
  const candidates: Array<{ account_id: string; message_id: string }> = await q;
  if (!candidates.length) return none;
  const applied = await withDeadlockRetry(() => ctx.db.transaction((trx) => applyLocked(trx, candidates)));
  await publishAll(ctx, applied.touched);
  return { delivered: applied.result.delivered, failed: applied.result.failed, ignored: applied.result.ignored };
}

/** Locks the candidates' kept receipts (those still there), applies them to their recorded messages and deletes them. */
async function applyLocked(trx: Knex.Transaction, candidates: Array<{ account_id: string; message_id: string }>): Promise<{ result: ReceiptResult; touched: Set<string> }> {
  const result: ReceiptResult = { delivered: 0, failed: 0, ignored: 0, kept: 0 };
  const touched = new Set<string>();
  const pending: PendingRow[] = await trx('pending_receipts')
    .select('account_id', 'message_id', 'wework_msg_id', 'status', 'error_code', 'error_message', 'receipt_time')
    .whereIn(['account_id', 'message_id'], candidates.map((c) => [c.account_id, c.message_id]))
    .forUpdate();
  const byAccount = new Map<string, PendingRow[]>();
  for (const p of pending) byAccount.set(p.account_id, [...(byAccount.get(p.account_id) ?? []), p]);
  for (const [accountId, list] of byAccount) {
    const { rows, latest } = await matchMessages(trx, accountId, list.map(receiptOf));
    const recorded = rows.filter((r) => !isUnrecorded(r));
    for (const t of await applyToRows(trx, recorded, latest, result)) touched.add(t);
    if (recorded.length) await trx('pending_receipts').where({ account_id: accountId }).whereIn('message_id', recorded.map((r) => r.id)).delete();
  }
  return { result, touched };
}

interface PendingRow {
  account_id: string;
  message_id: string;
  wework_msg_id: string;
  status: 'delivered' | 'failed';
  error_code: string | null;
  error_message: string | null;
  receipt_time: Date;
}

const receiptOf = (p: PendingRow): DeliveryReceipt => ({
  kind: 'receipt',
  msg_id: p.wework_msg_id,
  client_msg_id: p.message_id,
  status: p.status,
  error_code: p.error_code ?? undefined,
  error_message: p.error_message ?? undefined,
  at: p.receipt_time.getTime(),
});

/** Drops kept receipts older than `PENDING_RECEIPT_TTL_MS` (their message never appeared). */
export async function purgeStalePendingReceipts(db: Knex, now: Date, limit = 10_000): Promise<number> {
  return db('pending_receipts').where('created_at', '<', new Date(now.getTime() - PENDING_RECEIPT_TTL_MS)).limit(limit).delete();
}

async function keepPending(trx: Knex.Transaction, accountId: string, kept: Array<{ messageId: string; receipt: DeliveryReceipt }>): Promise<void> {
  const rows = kept.map(({ messageId, receipt: r }) => [accountId, messageId, r.msg_id.slice(0, 100), r.status, r.error_code?.slice(0, 50) ?? null, r.error_message ?? null, atOf(r)]);
  // The latest receipt for a message wins (a failure reported after a delivery, or the reverse).
  await trx.raw(
    `INSERT INTO pending_receipts (account_id, message_id, wework_msg_id, status, error_code, error_message, receipt_time) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}
     ON DUPLICATE KEY UPDATE wework_msg_id = VALUES(wework_msg_id), status = VALUES(status), error_code = VALUES(error_code), error_message = VALUES(error_message), receipt_time = VALUES(receipt_time)`,
    rows.flat() as Knex.RawBinding[],
  );
}

/** Applies receipts to the matched rows still `sent`; moves the counters; returns the tasks touched. */
async function applyToRows(trx: Knex.Transaction, rows: MatchedRow[], latest: Map<string, DeliveryReceipt>, result: ReceiptResult): Promise<Set<string>> {
  const touched = new Set<string>();
  const sent = rows.filter((r) => r.status === 'sent');
  result.ignored += rows.length - sent.length;
  const perTask = new Map<string, { delivered: number; failed: number }>();
  // One multi-row UPDATE per (task, outcome): counters move by exactly the rows it changed.
  const groups = new Map<string, MatchedRow[]>();
  for (const r of sent) {
    const key = `${latest.get(r.id)!.status}|${r.batch_id ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, group] of groups) {
    const [kind, taskId] = key.split('|') as ['delivered' | 'failed', string];
    const n = await updateGroup(trx, group, kind, latest);
    if (n) await publishReceiptEvents(trx, group, kind, latest);
    result[kind] += n;
    result.ignored += group.length - n;
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
  return touched;
}

/** `message.delivered` / `message.failed` for a group the receipts moved, in the same transaction. */
async function publishReceiptEvents(trx: Knex.Transaction, rows: MatchedRow[], kind: 'delivered' | 'failed', latest: Map<string, DeliveryReceipt>): Promise<void> {
  const byTenant = new Map<string, WebhookEvent[]>();
  for (const r of rows) {
    const rec = latest.get(r.id)!;
    const data: Record<string, unknown> = { message_id: r.id, task_id: r.batch_id, gateway_message_id: r.wework_msg_id, at: atOf(rec).toISOString() };
    if (kind === 'failed') Object.assign(data, { error_code: rec.error_code ?? 'delivery_failed', error_message: rec.error_message ?? 'delivery failed' });
    byTenant.set(r.tenant_id, [...(byTenant.get(r.tenant_id) ?? []), { type: kind === 'delivered' ? 'message.delivered' : 'message.failed', data }]);
  }
  for (const [tenantId, events] of byTenant) await publishWebhookEvents(trx, tenantId, events);
}

async function publishAll(ctx: Ctx, taskIds: Set<string>): Promise<void> {
  for (const taskId of taskIds) await publishProgress(ctx, taskId).catch(() => undefined);
}

const atOf = (rec: DeliveryReceipt) => new Date(rec.at > 1e12 ? rec.at : rec.at * 1000);

async function updateGroup(
  trx: Knex.Transaction,
  rows: Array<{ id: string; created_at: Date }>,
  kind: 'delivered' | 'failed',
  latest: Map<string, DeliveryReceipt>,
): Promise<number> {
  const whenThen = (value: (rec: DeliveryReceipt) => unknown) => {
    const bindings: Knex.RawBinding[] = [];
    for (const r of rows) bindings.push(r.id, value(latest.get(r.id)!) as Knex.RawBinding);
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
