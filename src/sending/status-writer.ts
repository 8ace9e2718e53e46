import type { Knex } from 'knex';
import { withDeadlockRetry } from '../db/deadlock-retry';
import type { Logger } from '../logger';
import type { SendResult } from './send-outcome';

/**
 * Buffers send results from every sender of the process and writes them in multi-row UPDATEs (up to
 * `maxBatch` rows, or whatever arrived within `maxDelayMs`). Each UPDATE is conditional on
 * `status = 'sending'`, and the task counters move by exactly the rows it changed, in the same
 * transaction, so counters stay exact even if a result is written twice or a message was re-claimed.
 */
export interface FlushedTasks {
  /** Tasks touched by the flush: tenant (for events) and the last error seen (for the pause reason). */
  tasks: Map<string, { tenantId: string; lastError?: string }>;
}

export type AfterFlush = (flushed: FlushedTasks) => Promise<void>;

interface Pending {
  result: SendResult;
  resolve(): void;
  reject(err: unknown): void;
}

const IS_ERROR = new Set(['retry', 'failed']);

export interface StatusWriterOptions {
  maxBatch: number;
  maxDelayMs: number;
  /** First pause after a failed flush; doubles per consecutive failure up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/**
 * A flush that fails (MySQL down, connection lost mid-commit) keeps its results: they go back to the
 * front of the buffer and the writer tries again with a growing pause until MySQL answers. Writing a
 * batch twice is harmless (see above), so a commit whose acknowledgement was lost cannot double count.
 * `record` therefore settles only when the result is durable, or rejects when the writer is closed
 * before it could be written (the message then stays `sending` and is re-sent with the same key).
 */
export class StatusWriter {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private failures = 0;
  private wakeRetry: (() => void) | null = null;
  private readonly opts: Required<StatusWriterOptions>;

  constructor(
    private readonly db: Knex,
    private readonly logger: Logger,
    private readonly afterFlush: AfterFlush,
    opts: StatusWriterOptions = { maxBatch: 500, maxDelayMs: 20 },
  ) {
    this.opts = { retryDelayMs: 100, maxRetryDelayMs: 5_000, ...opts };
  }

  /** Results waiting to be written (diagnostics, tests). */
  get pending(): number {
    return this.buffer.length;
  }

  /** Flushes that failed and were retried since start (diagnostics, tests). */
  failedFlushes = 0;

  /** Resolves once the result is durably written. */
  record(result: SendResult): Promise<void> {
    if (this.closed) return Promise.reject(new Error('status writer closed'));
    return new Promise<void>((resolve, reject) => {
      this.buffer.push({ result, resolve, reject });
      if (this.buffer.length >= this.opts.maxBatch) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.opts.maxDelayMs);
    });
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // Flushes run one after another; each takes what is buffered when it starts. flushOnce never rejects.
    this.flushing = this.flushing.then(() => this.flushOnce());
  }

  private async flushOnce(): Promise<void> {
    while (this.buffer.length && !this.closed) {
      const batch = this.buffer.splice(0, this.opts.maxBatch);
      let flushed: FlushedTasks;
      try {
        flushed = await withDeadlockRetry(() => this.db.transaction((trx) => writeResults(trx, batch.map((p) => p.result))));
      } catch (err) {
        // Keep the batch, in order, ahead of anything recorded since; try again after a pause.
        this.buffer.unshift(...batch);
        this.failures += 1;
        this.failedFlushes += 1;
        const delay = Math.min(this.opts.maxRetryDelayMs, this.opts.retryDelayMs * 2 ** Math.min(this.failures - 1, 16));
        this.logger.error({ err, pending: this.buffer.length, retryInMs: delay, failures: this.failures }, 'status flush failed; results kept and retried');
        await this.pause(delay);
        continue;
      }
      if (this.failures) this.logger.warn({ failures: this.failures }, 'status flush recovered');
      this.failures = 0;
      batch.forEach((p) => p.resolve());
      try {
        await this.afterFlush(flushed);
      } catch (err) {
        this.logger.warn({ err }, 'after-flush hook failed');
      }
    }
    if (this.closed) this.rejectUnwritten();
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => this.wakeRetry?.(), ms);
      this.wakeRetry = () => {
        this.wakeRetry = null;
        clearTimeout(t);
        resolve();
      };
    });
  }

  private rejectUnwritten(): void {
    const left = this.buffer.splice(0);
    if (!left.length) return;
    this.logger.error({ results: left.length }, 'status writer closed with unwritten results; their messages stay in sending and are re-sent with the same key');
    for (const p of left) p.reject(new Error('status writer closed'));
  }

  /**
   * Writes what is buffered, retrying failed flushes for up to `graceMs`. Results still unwritten then
   * are rejected: their messages stay `sending`, and the next sender re-sends them with the same key.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.kick();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.flushing, grace]);
    clearTimeout(timer);
    this.closed = true;
    this.wakeRetry?.();
    // A batch still inside its transaction settles when that ends (rejected by flushOnce if it failed).
    this.rejectUnwritten();
  }
}

type Trx = Knex.Transaction;

async function exec(trx: Trx, sql: string, bindings: unknown[]): Promise<number> {
  const [res] = (await trx.raw(sql, bindings as Knex.RawBinding[])) as [{ affectedRows: number }];
  return res.affectedRows;
}

function idFilter(rows: SendResult[]): { sql: string; bindings: unknown[] } {
  const times = [...new Set(rows.map((r) => r.createdAt.getTime()))].map((t) => new Date(t));
  return {
    sql: `id IN (${rows.map(() => '?').join(',')}) AND created_at IN (${times.map(() => '?').join(',')}) AND status = 'sending'`,
    bindings: [...rows.map((r) => r.id), ...times],
  };
}

/** CASE id WHEN … THEN … END for a per-row value. */
function caseOf(rows: SendResult[], value: (r: SendResult) => unknown): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = [];
  for (const r of rows) bindings.push(r.id, value(r));
  return { sql: `CASE id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END`, bindings };
}

export async function writeResults(trx: Trx, results: SendResult[]): Promise<FlushedTasks> {
  // One message may appear twice in a batch (a re-sent orphan); the first result wins.
  const seen = new Set<string>();
  const unique = results.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
  const byKind = (k: string) => unique.filter((r) => r.outcome.kind === k);
  const counts = new Map<string, { sent: number; failed: number; unknown: number }>();
  const bump = (taskId: string | null, key: 'sent' | 'failed' | 'unknown', n: number) => {
    if (!taskId || !n) return;
    const c = counts.get(taskId) ?? { sent: 0, failed: 0, unknown: 0 };
    c[key] += n;
    counts.set(taskId, c);
  };
  const groupByTask = (rows: SendResult[]) => {
    const m = new Map<string | null, SendResult[]>();
    for (const r of rows) m.set(r.taskId, [...(m.get(r.taskId) ?? []), r]);
    return m;
  };

  for (const [taskId, rows] of groupByTask(byKind('sent'))) {
    const f = idFilter(rows);
    const ids = caseOf(rows, (r) => (r.outcome as { gatewayMessageId: string }).gatewayMessageId);
    const n = await exec(
      trx,
      `UPDATE messages SET status = 'sent', wework_msg_id = ${ids.sql}, send_time = NOW(3), error_code = NULL, error_message = NULL WHERE ${f.sql}`,
      [...ids.bindings, ...f.bindings],
    );
    bump(taskId, 'sent', n);
  }
  for (const [taskId, rows] of groupByTask(byKind('failed'))) {
    const f = idFilter(rows);
    const codes = caseOf(rows, (r) => (r.outcome as { errorCode: string }).errorCode.slice(0, 50));
    const msgs = caseOf(rows, (r) => (r.outcome as { errorMessage: string }).errorMessage.slice(0, 2000));
    const n = await exec(
      trx,
      `UPDATE messages SET status = 'failed', error_code = ${codes.sql}, error_message = ${msgs.sql}, retry_count = retry_count + 1 WHERE ${f.sql}`,
      [...codes.bindings, ...msgs.bindings, ...f.bindings],
    );
    bump(taskId, 'failed', n);
  }
  // In doubt (the gateway will not repeat the send, and cannot prove it went out): terminal, not a failure.
  for (const [taskId, rows] of groupByTask(byKind('unknown'))) {
    const f = idFilter(rows);
    const codes = caseOf(rows, (r) => (r.outcome as { errorCode: string }).errorCode.slice(0, 50));
    const msgs = caseOf(rows, (r) => (r.outcome as { errorMessage: string }).errorMessage.slice(0, 2000));
    const n = await exec(
      trx,
      `UPDATE messages SET status = 'unknown', send_time = NOW(3), error_code = ${codes.sql}, error_message = ${msgs.sql} WHERE ${f.sql}`,
      [...codes.bindings, ...msgs.bindings, ...f.bindings],
    );
    bump(taskId, 'unknown', n);
  }
  const retries = byKind('retry');
  if (retries.length) {
    const f = idFilter(retries);
    const at = caseOf(retries, (r) => (r.outcome as { retryAt: Date }).retryAt);
    const codes = caseOf(retries, (r) => (r.outcome as { errorCode: string }).errorCode.slice(0, 50));
    const msgs = caseOf(retries, (r) => (r.outcome as { errorMessage: string }).errorMessage.slice(0, 2000));
    await exec(
      trx,
      `UPDATE messages SET status = 'pending', scheduled_time = ${at.sql}, error_code = ${codes.sql}, error_message = ${msgs.sql}, retry_count = retry_count + 1 WHERE ${f.sql}`,
      [...at.bindings, ...codes.bindings, ...msgs.bindings, ...f.bindings],
    );
  }
  const cancelled = new Map<string, number>();
  for (const [taskId, rows] of groupByTask(byKind('cancelled'))) {
    const f = idFilter(rows);
    const n = await exec(trx, `UPDATE messages SET status = 'cancelled' WHERE ${f.sql}`, f.bindings);
    if (taskId && n) cancelled.set(taskId, n);
  }
  const requeues = [...byKind('requeue'), ...byKind('held')];
  if (requeues.length) {
    const f = idFilter(requeues);
    await exec(trx, `UPDATE messages SET status = 'pending' WHERE ${f.sql}`, f.bindings);
  }

  // Counters and the consecutive-error streak, tasks in id order (same lock order in every process).
  const tasks: FlushedTasks['tasks'] = new Map();
  const taskIds = [...new Set(unique.map((r) => r.taskId).filter((t): t is string => t !== null))].sort();
  for (const taskId of taskIds) {
    const rows = unique.filter((r) => r.taskId === taskId);
    const lastErr = [...rows].reverse().find((r) => IS_ERROR.has(r.outcome.kind))?.outcome as { errorCode: string; errorMessage: string } | undefined;
    tasks.set(taskId, { tenantId: rows[0].tenantId, lastError: lastErr ? `${lastErr.errorCode}: ${lastErr.errorMessage}` : undefined });
    const c = counts.get(taskId) ?? { sent: 0, failed: 0, unknown: 0 };
    let lastSuccess = -1;
    rows.forEach((r, i) => {
      if (r.outcome.kind === 'sent') lastSuccess = i;
    });
    const errorsAfter = rows.slice(lastSuccess + 1).filter((r) => IS_ERROR.has(r.outcome.kind)).length;
    await exec(
      trx,
      `UPDATE batch_send_tasks SET sent_count = sent_count + ?, success_count = success_count + ?, failed_count = failed_count + ?,
         unknown_count = unknown_count + ?, cancelled_count = cancelled_count + ?, consecutive_errors = IF(?, ?, consecutive_errors + ?) WHERE id = ?`,
      [c.sent + c.failed + c.unknown, c.sent, c.failed, c.unknown, cancelled.get(taskId) ?? 0, lastSuccess >= 0 ? 1 : 0, errorsAfter, errorsAfter, taskId],
    );
  }
  return { tasks };
}
