import type { Knex } from 'knex';
import { Readable } from 'node:stream';
import type { AppContext } from '../context';
import type { FileRow } from '../db/files';
import { MESSAGE_STATUSES } from '../db/messages';
import { NotFoundError } from '../errors';
import { taskIdRange, taskIdTime } from '../sending/message-ids';
import { saveTenantFile } from './tenant-files';

/**
 * Rows per query. Small enough that a page's rows are written out before the young generation is
 * collected twice: 10,000-row pages outlived scavenges, were promoted, and filled the old generation
 * with dead pages until a full collection (the API's RSS rose with the export, 168 → 345 MB at 1M rows).
 */
const PAGE = 2_000;
/** CSV text per stream chunk. */
const CHUNK_CHARS = 64 * 1024;
const COLUMNS = ['message_id', 'conversation_id', 'account_id', 'status', 'error_code', 'error_message', 'send_time', 'callback_time', 'created_at'] as const;

/**
 * Spreadsheets run a cell as a formula when it starts with = + - @ (OWASP "CSV injection"), and some also
 * after leading tabs, carriage returns or spaces, or with the full-width forms ＝ ＋ － ＠ that they fold to ASCII.
 */
const FORMULA_START = /^[\s]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]|^[\t\r]/;

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a formula start is defused with a leading `'`. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = value instanceof Date ? value.toISOString() : String(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Every message of the task as CSV text, in target order, about 64 KiB per chunk. Pulled by the storage
 * write, so a slow store slows the reads (backpressure). Each page becomes text in one synchronous pass
 * and its rows are dropped before the first chunk goes out: what lives across the stream's turns is
 * one page of text, not a page of row objects.
 */
async function* taskReportLines(db: Knex, tenantId: string, taskId: string): AsyncGenerator<string> {
  yield `${COLUMNS.join(',')}\r\n`;
  for await (const page of taskMessagePagesInOrder(db, tenantId, taskId)) {
    const chunks = csvChunks(page);
    // The page's generator holds this array while suspended; emptying it lets the rows die young.
    page.length = 0;
    yield* chunks;
  }
}

function csvChunks(rows: ReportRow[]): string[] {
  const chunks: string[] = [];
  let lines: string[] = [];
  let chars = 0;
  for (const r of rows) {
    const line = `${[r.id, r.conversation_id, r.account_id, r.status, r.error_code, r.error_message, r.send_time, r.callback_time, r.created_at].map(csvField).join(',')}\r\n`;
    lines.push(line);
    chars += line.length;
    if (chars >= CHUNK_CHARS) {
      chunks.push(lines.join(''));
      lines = [];
      chars = 0;
    }
  }
  if (lines.length) chunks.push(lines.join(''));
  return chunks;
}

type ReportRow = Record<string, unknown> & { id: string; created_at: Date };
const REPORT_COLUMNS = ['id', 'conversation_id', 'account_id', 'status', 'error_code', 'error_message', 'send_time', 'callback_time', 'created_at'];

/**
 * Every message of the task in target order. A task's message ids follow its targets inside the task's own
 * range of the primary key (message-ids.ts), so the rows are read along the clustered index itself, by
 * keyset on id, `pageSize` rows per query: sequential pages, no secondary-index lookups, no sort. A task
 * with a row outside that range (ids made before issue 17, or a start time changed since) is read by the
 * per-status merge instead (as is a task not yet visible to this reader). Call inside one transaction for one consistent snapshot.
 */
export async function* taskMessagesInOrder(db: Knex, tenantId: string, taskId: string, pageSize = PAGE): AsyncGenerator<ReportRow> {
  for await (const page of taskMessagePagesInOrder(db, tenantId, taskId, pageSize)) yield* page;
}

/** The same rows as taskMessagesInOrder, a page (at most `pageSize` rows) at a time. */
export async function* taskMessagePagesInOrder(db: Knex, tenantId: string, taskId: string, pageSize = PAGE): AsyncGenerator<ReportRow[]> {
  const task = await db('batch_send_tasks').where({ id: taskId, tenant_id: tenantId }).first('id', 'start_time', 'created_at');
  if (!task) {
    yield* inPages(taskMessagesByStatus(db, tenantId, taskId, pageSize), pageSize);
    return;
  }
  const range = taskIdRange(taskId, taskIdTime(task).getTime());
  // Index-only along idx_batch_status_time (batch_id, …, id): any row of the task outside its range?
  const stray = await db('messages').where({ batch_id: taskId }).andWhere((w) => w.where('id', '<', range.first).orWhere('id', '>', range.last)).first('id');
  yield* stray ? inPages(taskMessagesByStatus(db, tenantId, taskId, pageSize), pageSize) : alongPrimaryKey(db, tenantId, taskId, range, pageSize);
}

async function* inPages(rows: AsyncIterable<ReportRow>, pageSize: number): AsyncGenerator<ReportRow[]> {
  let page: ReportRow[] = [];
  for await (const r of rows) {
    page.push(r);
    if (page.length >= pageSize) {
      yield page;
      page = [];
    }
  }
  if (page.length) yield page;
}

async function* alongPrimaryKey(db: Knex, tenantId: string, taskId: string, range: { first: string; last: string }, pageSize: number): AsyncGenerator<ReportRow[]> {
  let after: string | null = null;
  for (;;) {
    const q = db
      .from(db.raw('messages FORCE INDEX (PRIMARY)'))
      .where({ tenant_id: tenantId, batch_id: taskId })
      .andWhere('id', '<=', range.last)
      .orderBy('id')
      .limit(pageSize)
      .select(REPORT_COLUMNS);
    if (after === null) q.andWhere('id', '>=', range.first);
    else q.andWhere('id', '>', after);
    const rows: ReportRow[] = await q;
    if (!rows.length) return;
    const full = rows.length === pageSize;
    // Read before yielding: the consumer may empty the page.
    after = rows[rows.length - 1].id;
    yield rows;
    if (!full) return;
  }
}

/** The task's rows by keyset along idx_batch_status_time, one cursor per status, merged in (created_at, id) order. */
export async function* taskMessagesByStatus(db: Knex, tenantId: string, taskId: string, pageSize: number): AsyncGenerator<ReportRow> {
  const streams = MESSAGE_STATUSES.map((status) => ({ status, rows: [] as ReportRow[], at: 0, done: false, after: null as ReportRow | null }));
  const refill = async (s: (typeof streams)[number]) => {
    const q = db('messages')
      .where({ tenant_id: tenantId, batch_id: taskId, status: s.status })
      .orderBy('created_at')
      .orderBy('id')
      .limit(pageSize)
      .select(REPORT_COLUMNS);
    const after = s.after;
    if (after) q.andWhere((w) => w.where('created_at', '>', after.created_at).orWhere((x) => x.where('created_at', after.created_at).andWhere('id', '>', after.id)));
    s.rows = await q;
    s.at = 0;
    s.done = s.rows.length < pageSize;
    if (s.rows.length) s.after = s.rows[s.rows.length - 1];
  };
  for (const s of streams) await refill(s);
  for (;;) {
    let next: (typeof streams)[number] | null = null;
    for (const s of streams) {
      if (s.at >= s.rows.length) continue;
      const head = s.rows[s.at];
      const best = next?.rows[next.at];
      if (!best || head.created_at < best.created_at || (head.created_at.getTime() === best.created_at.getTime() && head.id < best.id)) next = s;
    }
    if (!next) return;
    yield next.rows[next.at++];
    if (next.at >= next.rows.length && !next.done) await refill(next);
  }
}

/**
 * Writes the task's report (one CSV row per message with its status and error) into storage as a
 * `report` file of the tenant and returns the file row. 404 when the task is not the tenant's.
 */
export async function exportTaskReport(ctx: AppContext, tenantId: string, taskId: string, createdBy?: string | null): Promise<FileRow> {
  const task = await ctx.db('batch_send_tasks').where({ id: taskId, tenant_id: tenantId }).first('id', 'task_name');
  if (!task) throw new NotFoundError('task', taskId);
  const safeName = String(task.task_name).replace(/[^\p{L}\p{N}._-]+/gu, '_').slice(0, 80) || 'task';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  // One transaction (REPEATABLE READ, reads only): one snapshot for the whole export, so a message changing
  // status meanwhile is neither missed nor written twice,
  // on the read replica while it serves reads (the task's ownership above is checked on the primary).
  return ctx.readDb().transaction((trx) => saveTenantFile(ctx, {
    tenantId,
    purpose: 'report',
    fileName: `${safeName}-report-${stamp}.csv`,
    contentType: 'text/csv',
    body: Readable.from(taskReportLines(trx, tenantId, taskId)),
    createdBy,
  }));
}
