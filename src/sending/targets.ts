import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { Knex } from 'knex';
import type { AppContext } from '../context';
import { parseJson } from '../db/json';
import type { TaskRow } from '../db/tasks';
import { PERMANENT_FAILURE_CODES } from '../domain/failure-kinds';
import type { VariableValues } from '../domain/template-render';

/**
 * Where a task's targets come from, as one ordered stream of source records: each record advances the
 * position by one whether it is a good target or a reported problem, so `expansion_cursor` (a
 * position) resumes exactly where the last committed chunk ended.
 */
export interface Target {
  conversationId: string;
  /** Set when the source fixes the account (group/filter conversations, or an import column). */
  accountId?: string;
  variables: VariableValues;
  /** Content already rendered (a retry sends what the failed message was to send): no template run. */
  content?: Record<string, unknown>;
}

export interface TargetProblem {
  line?: number;
  index?: number;
  error: string;
}

export type SourceRecord = { target: Target; problem?: undefined } | { target?: undefined; problem: TargetProblem };

export const MAX_CONVERSATION_ID = 100;

export interface ManualTargetConfig {
  targets: Array<{ conversation_id: string; account_id?: string; variables?: VariableValues }>;
}

export interface ImportTargetConfig {
  file_id: string;
}

export interface FilterTargetConfig {
  conversation_type?: 'private' | 'group';
  tags?: string[];
  last_message_after?: string;
  last_message_before?: string;
}

/** Deterministic account for a target that does not name one. */
export function accountFor(conversationId: string, accounts: readonly string[]): string {
  const h = createHash('sha1').update(conversationId).digest();
  return accounts[h.readUInt32BE(0) % accounts.length];
}

export async function* readTargets(ctx: Pick<AppContext, 'db' | 'storage'>, task: TaskRow, from: number): AsyncGenerator<SourceRecord> {
  switch (task.target_type) {
    case 'manual':
      yield* manualTargets(task.target_config as unknown as ManualTargetConfig, from);
      return;
    case 'import':
      yield* importTargets(ctx, task, from);
      return;
    case 'group':
      yield* conversationTargets(ctx, task, { conversation_type: 'group' }, from);
      return;
    case 'filter':
      yield* conversationTargets(ctx, task, task.target_config as FilterTargetConfig, from);
      return;
    case 'retry':
      yield* retryTargets(ctx, task, from);
      return;
  }
}

/**
 * The failed messages of the retried task, in (created_at, id) order, each with its rendered content
 * and its account. The retried task is finished (retry-failed refuses others), so the set is fixed and
 * a position is a stable offset.
 */
async function* retryTargets(ctx: Pick<AppContext, 'db'>, task: TaskRow, from: number): AsyncGenerator<SourceRecord> {
  const pageSize = 1000;
  for (let offset = from; ; offset += pageSize) {
    const rows: Array<{ account_id: string; conversation_id: string; content: unknown }> = await ctx
      .db('messages')
      .select('account_id', 'conversation_id', 'content')
      .where({ tenant_id: task.tenant_id, batch_id: task.retry_of, status: 'failed' })
      .modify((q) => retryableFailures(q, Boolean(task.target_config.include_permanent)))
      .orderBy('created_at')
      .orderBy('id')
      .limit(pageSize)
      .offset(offset);
    for (const r of rows) {
      yield { target: { conversationId: r.conversation_id, accountId: r.account_id, variables: {}, content: parseJson(r.content, {}) } };
    }
    if (rows.length < pageSize) return;
  }
}

/** Narrows failed messages to those worth retrying: all of them when asked, else those without a permanent code. */
export function retryableFailures(q: Knex.QueryBuilder, includePermanent: boolean): Knex.QueryBuilder {
  if (includePermanent) return q;
  return q.andWhere((w) => w.whereNull('error_code').orWhereNotIn('error_code', PERMANENT_FAILURE_CODES as string[]));
}

function* manualTargets(cfg: ManualTargetConfig, from: number): Generator<SourceRecord> {
  const list = cfg.targets ?? [];
  for (let i = from; i < list.length; i += 1) {
    const t = list[i];
    yield { target: { conversationId: t.conversation_id, accountId: t.account_id, variables: t.variables ?? {} } };
  }
}

async function* importTargets(ctx: Pick<AppContext, 'db' | 'storage'>, task: TaskRow, from: number): AsyncGenerator<SourceRecord> {
  const cfg = task.target_config as unknown as ImportTargetConfig;
  const file = await ctx.db('files').select('object_key').where({ id: cfg.file_id, tenant_id: task.tenant_id }).whereNull('deleted_at').first();
  if (!file) throw new ImportFileMissing(cfg.file_id);
  const stream = await ctx.storage.get(file.object_key);
  yield* parseTargetCsv(stream, from);
}

export class ImportFileMissing extends Error {
  constructor(readonly fileId: string) {
    super(`import file ${fileId} not found`);
  }
}

/**
 * CSV with a header row; `conversation_id` is required, `account_id` optional, every other column is a
 * variable of that row (empty cells count as absent, so template defaults apply). Parsed as a stream:
 * memory stays flat whatever the file size. Malformed rows become problems with their line number.
 */
export async function* parseTargetCsv(input: Readable, from = 0): AsyncGenerator<SourceRecord> {
  const skipped: TargetProblem[] = [];
  const parser = parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        skipped.push({ line: (err as { lines?: number } | undefined)?.lines, error: err?.message ?? 'malformed CSV row' });
        return undefined;
      },
    });
  // pipe() does not forward errors: a broken source must end the parse with its error, not hang it.
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let header: string[] | null = null;
  let position = 0;
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    // Problems the parser skipped are reported once, by the expansion that passes them.
    while (skipped.length) {
      const p = skipped.shift()!;
      if (position >= from) yield { problem: p };
    }
    const { record, info } = item;
    if (!header) {
      header = record.map((h) => h.trim());
      if (!header.includes('conversation_id')) {
        throw new CsvHeaderError('the CSV header must have a conversation_id column');
      }
      continue;
    }
    const index = position++;
    if (index < from) continue;
    if (record.length !== header.length) {
      yield { problem: { line: info.lines, error: `expected ${header.length} columns, found ${record.length}` } };
      continue;
    }
    const row: Record<string, string> = {};
    header.forEach((h, i) => (row[h] = record[i]));
    const conversationId = row.conversation_id;
    if (!conversationId) {
      yield { problem: { line: info.lines, error: 'conversation_id is empty' } };
      continue;
    }
    if (conversationId.length > MAX_CONVERSATION_ID) {
      yield { problem: { line: info.lines, error: `conversation_id longer than ${MAX_CONVERSATION_ID}` } };
      continue;
    }
    const variables: VariableValues = {};
    for (const [k, v] of Object.entries(row)) if (k !== 'conversation_id' && k !== 'account_id' && v !== '') variables[k] = v;
    yield { target: { conversationId, accountId: row.account_id || undefined, variables } };
  }
  for (const p of skipped) yield { problem: p };
}

export class CsvHeaderError extends Error {}

/** The active conversations of the accounts that match the filter (the group and filter audiences). */
export function conversationAudience(db: Knex, tenantId: string, accountIds: readonly string[], f: FilterTargetConfig): Knex.QueryBuilder {
  const q = db('conversations').where({ tenant_id: tenantId, is_active: 1 }).whereIn('account_id', accountIds);
  if (f.conversation_type) q.andWhere({ conversation_type: f.conversation_type });
  if (f.tags?.length) {
    q.andWhere((w) => {
      for (const tag of f.tags!) w.orWhereRaw('JSON_CONTAINS(COALESCE(tags, JSON_ARRAY()), JSON_QUOTE(?))', [tag]);
    });
  }
  if (f.last_message_after) q.andWhere('last_msg_time', '>=', new Date(f.last_message_after));
  if (f.last_message_before) q.andWhere('last_msg_time', '<', new Date(f.last_message_before));
  return q;
}

async function* conversationTargets(ctx: Pick<AppContext, 'db'>, task: TaskRow, f: FilterTargetConfig, from: number): AsyncGenerator<SourceRecord> {
  const pageSize = 1000;
  for (let offset = from; ; offset += pageSize) {
    const q = conversationAudience(ctx.db, task.tenant_id, task.account_ids, f).select('id', 'account_id', 'conversation_id', 'conversation_name');
    const rows = await q.orderBy('id').limit(pageSize).offset(offset);
    for (const r of rows) {
      yield { target: { conversationId: r.conversation_id, accountId: r.account_id, variables: { conversation_name: r.conversation_name ?? '' } } };
    }
    if (rows.length < pageSize) return;
  }
}
