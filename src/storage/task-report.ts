import { Readable } from 'node:stream';
import type { AppContext } from '../context';
import type { FileRow } from '../db/files';
import { NotFoundError } from '../errors';
import { saveTenantFile } from './tenant-files';

const PAGE = 2000;
const COLUMNS = ['message_id', 'conversation_id', 'account_id', 'status', 'error_code', 'error_message', 'send_time', 'callback_time', 'created_at'] as const;

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a leading =+-@ is defused for spreadsheets. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = value instanceof Date ? value.toISOString() : String(value);
  if (/^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Every message of the task, page by page (keyset on id), as CSV lines. Memory stays at one page. */
async function* taskReportLines(ctx: AppContext, tenantId: string, taskId: string): AsyncGenerator<string> {
  yield `${COLUMNS.join(',')}\r\n`;
  let after = '';
  for (;;) {
    const rows: Array<Record<string, unknown>> = await ctx
      .db('messages')
      .where({ tenant_id: tenantId, batch_id: taskId })
      .where('id', '>', after)
      .orderBy('id')
      .limit(PAGE)
      .select('id', 'conversation_id', 'account_id', 'status', 'error_code', 'error_message', 'send_time', 'callback_time', 'created_at');
    if (rows.length === 0) return;
    yield rows
      .map((r) => [r.id, r.conversation_id, r.account_id, r.status, r.error_code, r.error_message, r.send_time, r.callback_time, r.created_at].map(csvField).join(',') + '\r\n')
      .join('');
    if (rows.length < PAGE) return;
    after = String(rows[rows.length - 1].id);
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
  return saveTenantFile(ctx, {
    tenantId,
    purpose: 'report',
    fileName: `${safeName}-report-${stamp}.csv`,
    contentType: 'text/csv',
    body: Readable.from(taskReportLines(ctx, tenantId, taskId)),
    createdBy,
  });
}
