import type { AppContext } from '../context';
import { taskStatusEvent } from '../webhooks/domain-events';
import { publishWebhookEvents } from '../webhooks/publish';
import { insertMessagesIgnore, type NewMessage } from '../db/messages';
import { getTask, type TaskRow } from '../db/tasks';
import { toJson } from '../db/json';
import { compileTemplate, type VariableDefinition, type VariableValues } from '../domain/template-render';
import { AppError, InvalidTransitionError } from '../errors';
import { applyTaskAction } from './task-control';
import { enqueueExpansion, kickAccounts } from './kicks';
import { redisKey } from '../redis';
import { acquireLock, keys } from './redis-scripts';
import { withDeadlockRetry } from '../db/deadlock-retry';
import { emitTaskStatus, publishProgress } from './task-events';
import { finishIfDone } from './task-outcomes';
import { accountFor, CsvHeaderError, ImportFileMissing, readTargets, type SourceRecord, type TargetProblem } from './targets';
import { taskIdTime, taskMessageIds } from './message-ids';
import { KeySet } from '../domain/key-set';
import { setImmediate as loopTurn } from 'node:timers/promises';

/**
 * Turns a task's targets into `messages` rows (batch_id = task) in chunks. Each chunk is one
 * transaction: a multi-row INSERT IGNORE of rows with ids that follow the targets' positions (see
 * message-ids.ts: the task's part of the primary key only grows at its end, so its cost per target stays
 * flat however big the task) and created_at = task start, plus the new cursor and counters. A crash re-runs
 * at most one uncommitted chunk, whose rows either were not written or are ignored: no target is lost or
 * doubled. A target repeated in the source is dropped (counted as skipped) by a set of the task's dedupe
 * keys, refilled from the task's rows when an expansion resumes.
 */
export type ExpandCtx = Pick<AppContext, 'db' | 'redis' | 'storage' | 'queues' | 'realtime' | 'config' | 'logger'>;

export const EXPAND_CHUNK = 1000;
/** Targets prepared between turns of the event loop (parsing, rendering and deduplicating are synchronous). */
const SLICE = 250;
const MAX_REPORTED_PROBLEMS = 200;

/**
 * Expansions one tenant may run at once, across every worker process. A tenant importing several big
 * tasks would otherwise hold every expansion slot of the workers (4 per process) for minutes, and other
 * tenants' tasks, however small, would not start until one finished.
 */
export const EXPANSIONS_PER_TENANT = 2;

export const tenantSlotKey = (prefix: string, tenantId: string, slot: number) => redisKey(prefix, 'expand', 'tenant', tenantId, slot);

/** One of the tenant's expansion slots (a renewed Redis lock, so a killed worker's slot frees itself), or null. */
async function acquireTenantSlot(ctx: ExpandCtx, tenantId: string): Promise<Awaited<ReturnType<typeof acquireLock>>> {
  for (let slot = 0; slot < EXPANSIONS_PER_TENANT; slot += 1) {
    const held = await acquireLock(ctx.redis, tenantSlotKey(ctx.config.redis.prefix, tenantId, slot), 30_000);
    if (held) return held;
  }
  return null;
}

export async function expandTask(ctx: ExpandCtx, taskId: string, opts: { chunkSize?: number } = {}): Promise<'done' | 'busy' | 'deferred' | 'stopped' | 'missing'> {
  const lock = await acquireLock(ctx.redis, keys.expandLock(ctx.config.redis.prefix, taskId), 30_000);
  if (!lock) return 'busy';
  let slot: Awaited<ReturnType<typeof acquireLock>> = null;
  try {
    let task = await getTask(ctx.db, taskId);
    if (!task) return 'missing';
    if (!task.expansion_done) {
      slot = await acquireTenantSlot(ctx, task.tenant_id);
      if (!slot) {
        // The tenant's other expansions hold its slots: try again shortly, behind other tenants' jobs
        // (the sweeper re-queues it too, should this job be lost).
        await enqueueExpansion(ctx, taskId, 1_000);
        return 'deferred';
      }
    }
    if (task.status === 'created' && task.scheduled_time && task.scheduled_time.getTime() <= Date.now()) {
      // The scheduled start (this job was delayed until then); a manual start may have come first.
      await applyTaskAction(ctx, task.tenant_id, task.id, 'start').catch((err) => {
        if (!(err instanceof InvalidTransitionError)) throw err;
      });
      task = (await getTask(ctx.db, taskId))!;
    }
    if (task.expansion_done) return 'done';
    if (task.status !== 'running' && task.status !== 'paused') return 'stopped';
    try {
      return await expandFrom(ctx, task, opts.chunkSize ?? EXPAND_CHUNK, () => lock.lost);
    } catch (err) {
      if (err instanceof ImportFileMissing || err instanceof CsvHeaderError || err instanceof AppError) {
        await failTask(ctx, task, `target expansion failed: ${(err as Error).message}`);
        return 'stopped';
      }
      throw err;
    }
  } finally {
    await slot?.release();
    await lock.release();
  }
}

async function failTask(ctx: ExpandCtx, task: TaskRow, message: string): Promise<void> {
  await ctx.db.transaction(async (trx) => {
    const n = await trx('batch_send_tasks').where({ id: task.id }).whereIn('status', ['created', 'running', 'paused']).update({ status: 'failed', error_message: message, end_time: trx.fn.now(3) });
    if (n) await trx.raw(`UPDATE messages SET status = 'cancelled' WHERE batch_id = ? AND status = 'pending'`, [task.id]);
    if (n) await publishWebhookEvents(trx, task.tenant_id, [taskStatusEvent(task.id, 'failed', { error_message: message })]);
  });
  emitTaskStatus(ctx, task.tenant_id, task.id, 'failed', { error_message: message });
}

/** Thrown inside a chunk's transaction to roll it back: the task stopped or another run owns the cursor. */
class ChunkStopped extends Error {}

interface Prepared {
  definitions: VariableDefinition[];
  content: Record<string, unknown>;
  commonValues: Record<string, unknown>;
  createdAt: Date;
}

function prepare(task: TaskRow): Prepared {
  return {
    definitions: (task.message_content.definitions ?? []) as VariableDefinition[],
    content: task.message_content.content,
    commonValues: task.message_content.variables ?? {},
    createdAt: taskIdTime(task),
  };
}

/** What makes two targets of a task the same recipient. */
function dedupeKeyOf(task: TaskRow, accountId: string, conversationId: string): string {
  return task.target_type === 'manual' || task.target_type === 'import' ? conversationId : `${accountId}/${conversationId}`;
}

/** The dedupe keys of the rows the task already has (a resumed or repeated expansion), streamed. */
async function seenTargets(ctx: ExpandCtx, task: TaskRow): Promise<KeySet> {
  const seen = new KeySet(task.total_count);
  const any = await ctx.db('messages').select('id').where({ batch_id: task.id }).first();
  if (!any) return seen;
  const rows = ctx.db('messages').select('account_id', 'conversation_id').where({ batch_id: task.id }).stream();
  for await (const r of rows as AsyncIterable<{ account_id: string; conversation_id: string }>) seen.add(dedupeKeyOf(task, r.account_id, r.conversation_id));
  return seen;
}

async function expandFrom(ctx: ExpandCtx, task: TaskRow, chunkSize: number, lockLost: () => boolean): Promise<'done' | 'stopped'> {
  const p = prepare(task);
  // One placeholder scan per task, not per target.
  const template = compileTemplate(p.content, p.definitions);
  const seen = await seenTargets(ctx, task);
  const idAt = taskMessageIds(task.id, p.createdAt.getTime());
  let position = task.expansion_cursor;
  let rows: NewMessage[] = [];
  let problems: TargetProblem[] = [];
  let duplicates = 0;
  let consumed = 0;

  /** `last`: no chunk follows (the expansion's end publishes the progress right after, so this one does not). */
  const commit = async (last = false): Promise<boolean> => {
    const chunkRows = rows;
    const chunkProblems = problems;
    const chunkDuplicates = duplicates;
    const newPosition = position + consumed;
    rows = [];
    problems = [];
    duplicates = 0;
    consumed = 0;
    // Rows first, task row last: the same lock order as the status writer (messages, then the task's
    // counters), so a chunk and a flush running together cannot deadlock. Should MariaDB still pick the
    // chunk as a victim, it is simply run again (the transaction left nothing behind).
    const outcome = await withDeadlockRetry(() =>
      ctx.db.transaction(async (trx) => {
        const inserted = await insertMessagesIgnore(trx, chunkRows);
        const current = await trx('batch_send_tasks').select('status', 'expansion_cursor', 'target_errors').where({ id: task.id }).forUpdate().first();
        const stopped = !current || (current.status !== 'running' && current.status !== 'paused');
        // Stopped, or someone else advanced the cursor (their run wins): undo this chunk's rows.
        if (stopped || current.expansion_cursor !== position) throw new ChunkStopped();
        const reported = current.target_errors ? (typeof current.target_errors === 'string' ? JSON.parse(current.target_errors) : current.target_errors) : [];
        const merged = [...reported, ...chunkProblems].slice(0, MAX_REPORTED_PROBLEMS);
        await trx('batch_send_tasks')
          .where({ id: task.id })
          .update({
            expansion_cursor: newPosition,
            total_count: trx.raw('total_count + ?', [inserted]),
            skipped_count: trx.raw('skipped_count + ?', [chunkRows.length - inserted + chunkProblems.length + chunkDuplicates]),
            target_errors: toJson(merged),
          });
        return current.status as 'running' | 'paused';
      }),
    ).catch((err) => {
      if (err instanceof ChunkStopped) return 'stopped' as const;
      throw err;
    });
    if (outcome === 'stopped') return false;
    position = newPosition;
    if (outcome === 'running') await kickAccounts(ctx, new Set(chunkRows.map((r) => r.account_id)));
    if (!last) await publishProgress(ctx, task.id);
    return true;
  };

  for await (const rec of readTargets(ctx, task, position) as AsyncIterable<SourceRecord>) {
    consumed += 1;
    // Parsing, rendering and deduplicating are synchronous: let other work in the process run between slices.
    if (consumed % SLICE === 0) await loopTurn();
    const index = position + consumed - 1;
    if (rec.problem) {
      problems.push(rec.problem.line !== undefined ? rec.problem : { ...rec.problem, index });
    } else {
      const t = rec.target;
      const accountId = t.accountId && task.account_ids.includes(t.accountId) ? t.accountId : t.accountId ? null : accountFor(t.conversationId, task.account_ids);
      if (!accountId) {
        problems.push({ index, error: `account ${t.accountId} is not a sending account of this task` });
      } else {
        try {
          const rendered = t.content ? { content: t.content } : { content: template.render(p.commonValues as VariableValues, t.variables ?? {}) };
          if (!seen.add(dedupeKeyOf(task, accountId, t.conversationId))) {
            duplicates += 1;
          } else {
            rows.push({
              id: idAt(index),
              tenant_id: task.tenant_id,
              account_id: accountId,
              conversation_id: t.conversationId,
              message_type: String(p.content.type),
              content: JSON.stringify(rendered.content),
              template_id: task.template_id,
              batch_id: task.id,
              priority: task.priority,
              scheduled_time: null,
              created_at: p.createdAt,
            });
          }
        } catch (err) {
          problems.push({ index, error: (err as Error).message });
        }
      }
    }
    if (consumed >= chunkSize) {
      if (lockLost() || !(await commit())) return 'stopped';
    }
  }
  if (consumed > 0 && (lockLost() || !(await commit(true)))) return 'stopped';

  // All targets are rows now: total is exact by construction; recount anyway as the final word.
  // Counted with a plain read: only this run (it holds the expansion lock) adds rows to the task, and
  // an UPDATE … (SELECT COUNT(*) …) would share-lock every message of the task against the senders.
  const status = await withDeadlockRetry(() =>
    ctx.db.transaction(async (trx) => {
      const counted = await trx('messages').where({ batch_id: task.id }).count({ n: '*' }).first();
      const current = await trx('batch_send_tasks').select('status').where({ id: task.id }).forUpdate().first();
      if (!current || (current.status !== 'running' && current.status !== 'paused')) return null;
      await trx('batch_send_tasks').where({ id: task.id }).update({ expansion_done: 1, total_count: Number(counted?.n ?? 0) });
      return current.status as string;
    }),
  );
  if (!status) return 'stopped';
  await finishIfDone(ctx, task.id, task.tenant_id);
  await publishProgress(ctx, task.id, { force: true });
  return 'done';
}
