import type { Knex } from 'knex';
import { encodeCursor, paginate, type Page, type PageQuery } from '../api/pagination';
import { parseJson } from './json';

type Db = Knex | Knex.Transaction;

export const MESSAGE_STATUSES = ['pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled', 'unknown', 'skipped'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface MessageRow {
  id: string;
  tenant_id: string;
  account_id: string;
  conversation_id: string;
  message_type: string;
  content: Record<string, unknown>;
  template_id: string | null;
  status: MessageStatus;
  wework_msg_id: string | null;
  send_time: Date | null;
  callback_time: Date | null;
  error_code: string | null;
  error_message: string | null;
  retry_count: number;
  batch_id: string | null;
  priority: number;
  scheduled_time: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const decodeMessage = (row: Record<string, unknown>): MessageRow => ({
  ...(row as unknown as MessageRow),
  content: parseJson(row.content, {}),
});

export interface NewMessage {
  id: string;
  tenant_id: string;
  account_id: string;
  conversation_id: string;
  message_type: string;
  content: string;
  template_id: string | null;
  batch_id: string | null;
  priority: number;
  scheduled_time: Date | null;
  created_at: Date;
}

const COLS = ['id', 'tenant_id', 'account_id', 'conversation_id', 'message_type', 'content', 'template_id', 'batch_id', 'priority', 'scheduled_time', 'created_at'] as const;

/**
 * Multi-row INSERT IGNORE: rows whose (id, created_at) already exist are skipped, which is what makes
 * re-running an expansion chunk harmless. Returns how many rows were new.
 */
export async function insertMessagesIgnore(db: Db, rows: NewMessage[]): Promise<number> {
  if (!rows.length) return 0;
  const placeholders = rows.map(() => `(${COLS.map(() => '?').join(',')})`).join(',');
  const bindings: Knex.RawBinding[] = [];
  for (const r of rows) for (const c of COLS) bindings.push(r[c]);
  const [res] = (await db.raw(`INSERT IGNORE INTO messages (${COLS.join(',')}) VALUES ${placeholders}`, bindings)) as [{ affectedRows: number }];
  return res.affectedRows;
}

export async function findMessage(db: Db, tenantId: string, id: string): Promise<MessageRow | undefined> {
  const row = await db('messages').where({ tenant_id: tenantId, id }).first();
  return row ? decodeMessage(row) : undefined;
}

export interface MessageFilters {
  task_id?: string;
  status?: MessageStatus;
  account_id?: string;
  conversation_id?: string;
  from?: Date;
  to?: Date;
}

export function messageListQuery(db: Knex, tenantId: string, f: MessageFilters): Knex.QueryBuilder {
  const q = db('messages').where({ tenant_id: tenantId });
  if (f.task_id) q.andWhere({ batch_id: f.task_id });
  if (f.status) q.andWhere({ status: f.status });
  if (f.account_id) q.andWhere({ account_id: f.account_id });
  if (f.conversation_id) q.andWhere({ conversation_id: f.conversation_id });
  if (f.from) q.andWhere('created_at', '>=', f.from);
  if (f.to) q.andWhere('created_at', '<', f.to);
  return q;
}

type ListedRow = Record<string, unknown> & { created_at: Date; id: string };

const newestFirst = (a: ListedRow, b: ListedRow) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * One page of the tenant's messages, newest first, by keyset on (created_at, id): page 100 costs what
 * page 1 costs. Every filter combination walks an index in that order (see the index budget migration);
 * a task's list without a status filter is the merge of its per-status lists (idx_batch_status_time),
 * each read up to one page, instead of sorting the whole task.
 */
export async function listMessages(db: Knex, tenantId: string, f: MessageFilters, page: PageQuery): Promise<Page<ListedRow>> {
  if (!f.task_id || f.status) return paginate<ListedRow>(messageListQuery(db, tenantId, f), page);
  const rows: ListedRow[] = [];
  let more = false;
  // One status after another, on one connection, in one read-only transaction: every read sees the same
  // snapshot, so a message changing status meanwhile is listed once (not twice, nor missed).
  await db.transaction(
    async (trx) => {
      for (const status of MESSAGE_STATUSES) {
        const part = await paginate<ListedRow>(messageListQuery(trx, tenantId, { ...f, status }), page);
        rows.push(...part.data);
        more ||= part.next_cursor !== null;
      }
    },
    { readOnly: true },
  );
  rows.sort(newestFirst);
  const data = rows.slice(0, page.limit);
  more ||= rows.length > page.limit;
  return { data, next_cursor: more && data.length ? encodeCursor(data[data.length - 1]) : null };
}

/** What the sender needs of a claimed message. */
export interface ClaimedMessage {
  id: string;
  created_at: Date;
  tenant_id: string;
  conversation_id: string;
  content: Record<string, unknown>;
  batch_id: string | null;
  retry_count: number;
}

const CLAIM_COLS = 'id, created_at, tenant_id, conversation_id, content, batch_id, retry_count';

function decodeClaimed(rows: Array<Record<string, unknown>>): ClaimedMessage[] {
  return rows.map((r) => ({ ...(r as unknown as ClaimedMessage), content: parseJson(r.content, {}) }));
}

/**
 * Claims up to `limit` due pending messages of one account and one source (a task, or single messages
 * when `taskId` is null): a conditional UPDATE pending → sending, so a row is only ever claimed once
 * even if two senders raced. Returns the rows this call moved to `sending`.
 */
export async function claimMessages(db: Knex, accountId: string, taskId: string | null, limit: number): Promise<ClaimedMessage[]> {
  if (limit <= 0) return [];
  const candidates: Array<Record<string, unknown>> = await db('messages')
    .select(db.raw(CLAIM_COLS))
    .where({ account_id: accountId, status: 'pending' })
    .andWhere((w) => (taskId ? w.where({ batch_id: taskId }) : w.whereNull('batch_id')))
    .andWhere((w) => w.whereNull('scheduled_time').orWhere('scheduled_time', '<=', db.fn.now(3)))
    // The order of idx_account_claim: the scan stops at `limit` (waiting retries sort after the due rows).
    .orderBy([{ column: 'priority', order: 'desc' }, { column: 'scheduled_time', order: 'asc' }])
    .limit(limit);
  if (!candidates.length) return [];
  return decodeClaimed(await moveToSending(db, candidates, CLAIM_COLS));
}

/**
 * The conditional UPDATE pending → sending of claim candidates (rows read with `cols`, by primary key
 * with their partition's `created_at`); returns the rows in `sending` afterwards.
 */
async function moveToSending(db: Knex, candidates: Array<Record<string, unknown>>, cols: string): Promise<Array<Record<string, unknown>>> {
  const ids = candidates.map((c) => c.id as string);
  const times = [...new Set(candidates.map((c) => (c.created_at as Date).getTime()))].map((t) => new Date(t));
  const changed = await db('messages').whereIn('id', ids).whereIn('created_at', times).andWhere({ status: 'pending' }).update({ status: 'sending' });
  if (changed === candidates.length) return candidates;
  // Someone else claimed some in between (only possible if the account lock was lost): keep ours only.
  // A row both think they own is still sent with one idempotency key, so even that is harmless.
  return db('messages').select(db.raw(cols)).whereIn('id', ids).whereIn('created_at', times).andWhere({ status: 'sending' });
}

/** One account's paced claim in a batch: up to `limit` due pending messages of one source (a task, or singles when null). */
export interface ClaimRequest {
  accountId: string;
  taskId: string | null;
  limit: number;
}

/**
 * `claimMessages` for many accounts in two statements: one SELECT of each account's due rows (a UNION of
 * one bounded seek of idx_account_claim per request, each in the claim order) and one conditional UPDATE
 * pending → sending of them all. Ten thousand paced accounts each claiming one message per slot cost a
 * pair of statements per batch instead of per account. At most one request per account.
 */
export async function claimMessagesOfMany(db: Knex, requests: readonly ClaimRequest[]): Promise<Map<string, ClaimedMessage[]>> {
  const out = new Map<string, ClaimedMessage[]>(requests.map((r) => [r.accountId, []]));
  const asked = requests.filter((r) => r.limit > 0);
  if (!asked.length) return out;
  const parts: string[] = [];
  const bindings: Knex.RawBinding[] = [];
  for (const r of asked) {
    parts.push(
      `(SELECT ${CLAIM_COLS}, account_id FROM messages WHERE account_id = ? AND status = 'pending' AND batch_id ${r.taskId ? '= ?' : 'IS NULL'} ` +
        `AND (scheduled_time IS NULL OR scheduled_time <= NOW(3)) ORDER BY priority DESC, scheduled_time ASC LIMIT ?)`,
    );
    bindings.push(r.accountId, ...(r.taskId ? [r.taskId] : []), r.limit);
  }
  const [candidates] = (await db.raw(parts.join(' UNION ALL '), bindings)) as [Array<Record<string, unknown>>];
  if (!candidates.length) return out;
  for (const r of await moveToSending(db, candidates, `${CLAIM_COLS}, account_id`)) {
    const { account_id: accountId, ...m } = r;
    out.get(accountId as string)?.push(...decodeClaimed([m]));
  }
  return out;
}

/** Which of `accountIds` have messages in `sending` (orphans of a sender that died, or sends in flight): one query for many run start-ups. */
export async function accountsWithSending(db: Knex, accountIds: readonly string[]): Promise<Set<string>> {
  const rows: Array<{ account_id: string }> = await db('messages').distinct('account_id').whereIn('account_id', accountIds).andWhere({ status: 'sending' });
  return new Set(rows.map((r) => r.account_id));
}

/** Messages of the account left in `sending` by a sender that died: they are re-sent with the same key. */
export async function orphanedSending(db: Knex, accountId: string, limit: number): Promise<ClaimedMessage[]> {
  const rows = await db('messages').select(db.raw(CLAIM_COLS)).where({ account_id: accountId, status: 'sending' }).limit(limit);
  return decodeClaimed(rows);
}

/** Message priorities the API accepts (POST /messages, POST /tasks: 1-10). */
export const MESSAGE_PRIORITIES = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1] as const;

/**
 * Earliest future scheduled_time of the account's pending messages (retries, scheduled singles) among
 * single messages and the given tasks (the running ones whose window is open: a paused task's rows are
 * not work). One seek of idx_account_claim (account_id, status, batch_id, priority DESC, scheduled_time)
 * per source and priority, whatever the number of pending rows.
 */
export async function nextScheduledAt(db: Knex, accountId: string, taskIds: readonly string[]): Promise<Date | null> {
  const parts: string[] = [];
  const bindings: Knex.RawBinding[] = [];
  for (const taskId of [null, ...taskIds]) {
    for (const p of MESSAGE_PRIORITIES) {
      parts.push(
        `(SELECT scheduled_time AS t FROM messages WHERE account_id = ? AND status = 'pending' AND batch_id ${taskId ? '= ?' : 'IS NULL'} AND priority = ? AND scheduled_time > NOW(3) ORDER BY scheduled_time LIMIT 1)`,
      );
      bindings.push(accountId, ...(taskId ? [taskId] : []), p);
    }
  }
  const [rows] = (await db.raw(`SELECT MIN(t) AS t FROM (${parts.join(' UNION ALL ')}) due`, bindings)) as [Array<{ t: Date | null }>];
  return rows[0]?.t ?? null;
}
