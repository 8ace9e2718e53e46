import type { AppContext } from '../context';
import { publishTaskEnded, taskStatusEvent } from '../webhooks/domain-events';
import { publishWebhookEvents } from '../webhooks/publish';
import { completeIfDone } from '../db/tasks';
import { doneSql } from '../db/task-counters';
import { applyPendingReceipts, mayHaveKeptReceipts } from './receipts';
import type { FlushedTask, FlushedTasks } from './status-writer';
import { emitTaskStatus, publishProgress } from './task-events';

type Ctx = Pick<AppContext, 'db' | 'redis' | 'realtime' | 'config' | 'logger'>;

/**
 * The status writer's after-flush hook in the worker role: receipts that overtook these sends (kept in
 * pending_receipts) are applied first, so the progress published next includes them; then the tasks
 * are settled. A failure here is logged by the writer; the reconciliation job applies what was missed.
 */
export async function afterStatusFlush(ctx: Ctx, flushed: FlushedTasks, settler?: TaskSettler): Promise<void> {
  // Receipts are kept only after a marker of their tenant is set, so without it there is nothing to look for.
  if (flushed.sentMessageIds?.length && (!flushed.tenantId || (await mayHaveKeptReceipts(ctx, flushed.tenantId)))) {
    await applyPendingReceipts(ctx, { messageIds: flushed.sentMessageIds }).catch((err) =>
      ctx.logger.warn({ err: (err as Error).message }, 'kept receipts not applied after a flush; the reconciliation job will'),
    );
  }
  if (settler) await settler.settle(flushed);
  else await settleTasks(ctx, flushed);
}

/** What a run of flushes did to a task's error streak: `b` after `a`, as if each had been settled in turn. */
export function mergeFlushed(a: FlushedTask, b: FlushedTask): FlushedTask {
  return {
    tenantId: b.tenantId,
    lastError: b.lastError ?? a.lastError,
    hadSuccess: a.hadSuccess || b.hadSuccess,
    errorsAfter: b.hadSuccess ? b.errorsAfter : a.errorsAfter + b.errorsAfter,
  };
}

interface Deferred {
  info: FlushedTask;
  timer: NodeJS.Timeout;
}

/**
 * Settles a task at most once per `minIntervalMs` per process while its flushes bring no error: a big
 * task's lane flushes up to ten times a second, and each settle is a read of the task row with its done
 * count (the writer's most frequent statement). A flush of successes only is folded into the task's
 * deferred settle, which runs `minIntervalMs` after the last one (so the last flush of a task still
 * completes it, at most that much later). A flush with an error is settled at once, together with what
 * was deferred, so a streak pauses its task as soon as before. `close` settles whatever is deferred.
 */
export class TaskSettler {
  private readonly lastAt = new Map<string, number>();
  private readonly deferred = new Map<string, Deferred>();
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly ctx: Ctx,
    private readonly minIntervalMs = 250,
  ) {}

  async settle(flushed: FlushedTasks): Promise<void> {
    const now = Date.now();
    for (const [taskId, info] of flushed.tasks) {
      const waiting = this.deferred.get(taskId);
      const merged = waiting ? mergeFlushed(waiting.info, info) : info;
      if (info.errorsAfter === 0 && now - (this.lastAt.get(taskId) ?? 0) < this.minIntervalMs) {
        if (waiting) waiting.info = merged;
        else this.defer(taskId, merged, this.minIntervalMs - (now - (this.lastAt.get(taskId) ?? 0)));
        continue;
      }
      if (waiting) {
        clearTimeout(waiting.timer);
        this.deferred.delete(taskId);
      }
      await this.now(taskId, merged);
    }
    // Old entries out: one per task settled within the interval is all that matters.
    if (this.lastAt.size > 10_000) for (const [id, at] of this.lastAt) if (now - at >= this.minIntervalMs && !this.deferred.has(id)) this.lastAt.delete(id);
  }

  private defer(taskId: string, info: FlushedTask, ms: number): void {
    const timer = setTimeout(() => {
      const d = this.deferred.get(taskId);
      if (!d) return;
      this.deferred.delete(taskId);
      const p: Promise<void> = this.now(taskId, d.info)
        .catch((err: unknown) => this.ctx.logger.warn({ err, taskId }, 'deferred task settle failed'))
        .finally(() => this.running.delete(p));
      this.running.add(p);
    }, Math.max(1, ms));
    this.deferred.set(taskId, { info, timer });
  }

  private async now(taskId: string, info: FlushedTask): Promise<void> {
    this.lastAt.set(taskId, Date.now());
    await settleAndPublish(this.ctx, taskId, info);
  }

  /** Settles every deferred task now and waits for settles under way. */
  async close(): Promise<void> {
    const left = [...this.deferred];
    this.deferred.clear();
    for (const [, d] of left) clearTimeout(d.timer);
    await Promise.all([...this.running]);
    for (const [taskId, d] of left) await this.now(taskId, d.info).catch((err: unknown) => this.ctx.logger.warn({ err, taskId }, 'deferred task settle failed'));
  }
}

/**
 * After counters moved: carry the consecutive-error streak, pause a task whose streak reached its
 * threshold, end a task whose every message is terminal, and publish (coalesced) progress. Starts from a
 * plain read of the task row and writes it only when something changes (a streak to carry or reset, a
 * pause, the end), so a big task's steady flushes never queue on its row lock.
 */
export async function settleTasks(ctx: Ctx, flushed: FlushedTasks): Promise<void> {
  for (const [taskId, info] of flushed.tasks) await settleAndPublish(ctx, taskId, info);
}

async function settleAndPublish(ctx: Ctx, taskId: string, info: FlushedTask): Promise<void> {
  await settleTask(ctx, taskId, info);
  await publishProgress(ctx, taskId);
}

const THRESHOLD = `CAST(JSON_EXTRACT(send_strategy, '$.error_threshold') AS UNSIGNED)`;

async function settleTask(ctx: Ctx, taskId: string, info: FlushedTask): Promise<void> {
  // One round trip per flush: the row, its threshold and its done count (the shards summed by primary key).
  const row: { status: string; expansion_done: number; total_count: number; consecutive_errors: number; threshold: number | null; done: number | string } | undefined = await ctx.db('batch_send_tasks')
    .select('status', 'expansion_done', 'total_count', 'consecutive_errors', ctx.db.raw(`${THRESHOLD} AS threshold`), ctx.db.raw(`${doneSql('batch_send_tasks.id')} AS done`))
    .where({ id: taskId })
    .first();
  if (!row || row.status !== 'running') return;
  // The streak only matters to a task with a threshold. It is carried after the counters' commit: a crash
  // in between forgets a few errors of a streak, never a count.
  if (Number(row.threshold) > 0) {
    const resetTo = info.hadSuccess ? info.errorsAfter : null;
    if ((resetTo !== null && resetTo !== row.consecutive_errors) || (resetTo === null && info.errorsAfter > 0)) {
      await ctx.db.raw(`UPDATE batch_send_tasks SET consecutive_errors = IF(?, ?, consecutive_errors + ?) WHERE id = ?`, [resetTo !== null ? 1 : 0, info.errorsAfter, info.errorsAfter, taskId]);
      if (await pauseOnErrorThreshold(ctx, taskId, info.tenantId, info.lastError)) return;
    }
  }
  if (row.expansion_done && Number(row.done) >= row.total_count) await finishIfDone(ctx, taskId, info.tenantId);
}

/** Ends a task whose every message is terminal, with its webhook events in the same transaction. */
export async function endTask(ctx: Pick<Ctx, 'db'>, taskId: string, tenantId: string): Promise<'completed' | 'failed' | null> {
  return ctx.db.transaction(async (trx) => {
    const ended = await completeIfDone(trx, taskId);
    if (ended) await publishTaskEnded(trx, tenantId, taskId, ended);
    return ended;
  });
}

export async function pauseOnErrorThreshold(ctx: Ctx, taskId: string, tenantId: string, lastError?: string): Promise<boolean> {
  const res = await ctx.db.transaction(async (trx) => {
    const [r] = (await trx.raw(
    `UPDATE batch_send_tasks
        SET status = 'paused',
            error_message = CONCAT('paused after ', consecutive_errors, ' consecutive send errors', IF(? IS NULL, '', CONCAT(' (last: ', ?, ')')))
      WHERE id = ? AND status = 'running' AND ${THRESHOLD} > 0 AND consecutive_errors >= ${THRESHOLD}`,
    [lastError ?? null, (lastError ?? '').slice(0, 500), taskId],
    )) as [{ affectedRows: number }];
    if (r.affectedRows) await publishWebhookEvents(trx, tenantId, [taskStatusEvent(taskId, 'paused', { reason: 'error_threshold' })]);
    return r;
  });
  if (!res.affectedRows) return false;
  const row = await ctx.db('batch_send_tasks').select('error_message').where({ id: taskId }).first();
  emitTaskStatus(ctx, tenantId, taskId, 'paused', { reason: 'error_threshold', error_message: row?.error_message });
  ctx.logger.warn({ taskId, error: row?.error_message }, 'task paused by its error threshold');
  return true;
}

export async function finishIfDone(ctx: Ctx, taskId: string, tenantId: string): Promise<void> {
  const ended = await endTask(ctx, taskId, tenantId);
  if (ended) {
    emitTaskStatus(ctx, tenantId, taskId, ended);
    await publishProgress(ctx, taskId, { force: true });
  }
}
