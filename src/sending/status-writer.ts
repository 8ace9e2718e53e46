import type { Knex } from 'knex';
import { withDeadlockRetry } from '../db/deadlock-retry';
import { addTaskCounts } from '../db/task-counters';
import type { Logger } from '../logger';
import type { WebhookEvent } from '../webhooks/event-types';
import { publishWebhookEvents } from '../webhooks/publish';
import type { EndpointSubscriptions, SubscribedTypes } from '../webhooks/subscriptions';
import type { SendResult } from './send-outcome';

/**
 * Buffers send results from every sender of the process and writes them in multi-row UPDATEs (up to
 * `maxBatch` rows, or whatever arrived within `maxDelayMs`). Each UPDATE is conditional on
 * `status = 'sending'`, and the task counters (src/db/task-counters.ts) move by exactly the rows it
 * changed, in the same transaction, so counters stay exact even if a result is written twice or a
 * message was re-claimed.
 *
 * Results are buffered and written per tenant (a lane each): one tenant's big task never shares a batch,
 * a transaction or a retry pause with another tenant's results, and lanes flush side by side, at most
 * `maxConcurrentFlushes` at a time (the writer's share of the connection pool), taking turns in
 * arrival order.
 */
export interface FlushedTask {
  /** Tenant (for events). */
  tenantId: string;
  /** The last error seen in the batch (for the pause reason). */
  lastError?: string;
  /** Whether the batch had a success, and the errors after the last one: the consecutive-error streak. */
  hadSuccess: boolean;
  errorsAfter: number;
}

export interface FlushedTasks {
  /** The lane's tenant (every result of a flush is one tenant's). */
  tenantId?: string;
  tasks: Map<string, FlushedTask>;
  /** Ids of the messages the flush recorded as sent: receipts kept for them can now be applied. */
  sentMessageIds?: string[];
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
  /** Lanes (tenants) flushing at once; each flush holds one connection. */
  maxConcurrentFlushes?: number;
  /** Kept answers to "which event types do the tenant's webhook endpoints want" (else read in every flush). */
  subscriptions?: Pick<EndpointSubscriptions, 'typesOf'> | null;
}

/** FIFO counting semaphore: lanes take turns for the writer's connections. */
class Slots {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

/**
 * A flush that fails (MySQL down, connection lost mid-commit) keeps its results: they go back to the
 * front of their lane and the lane tries again with a growing pause until MySQL answers. Writing a
 * batch twice is harmless (see above), so a commit whose acknowledgement was lost cannot double count.
 * `record` therefore settles only when the result is durable, or rejects when the writer is closed
 * before it could be written (the message then stays `sending` and is re-sent with the same key).
 */
export class StatusWriter {
  private readonly lanes = new Map<string, Lane>();
  private readonly slots: Slots;
  private closed = false;
  private readonly opts: Required<StatusWriterOptions>;
  /** Flushes that failed and were retried since start (diagnostics, tests). */
  failedFlushes = 0;

  constructor(
    private readonly db: Knex,
    private readonly logger: Logger,
    private readonly afterFlush: AfterFlush,
    opts: StatusWriterOptions = { maxBatch: 500, maxDelayMs: 100 },
  ) {
    this.opts = { retryDelayMs: 100, maxRetryDelayMs: 5_000, maxConcurrentFlushes: 4, subscriptions: null, ...opts };
    this.slots = new Slots(this.opts.maxConcurrentFlushes);
  }

  /** Flushes chained or running, over all lanes (diagnostics, tests): at most two per lane. */
  get flushesInFlight(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.flushesInFlight;
    return n;
  }

  /** Results waiting to be written (diagnostics, tests). */
  get pending(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.buffer.length;
    return n;
  }

  /** Resolves once the result is durably written. */
  record(result: SendResult): Promise<void> {
    if (this.closed) return Promise.reject(new Error('status writer closed'));
    let lane = this.lanes.get(result.tenantId);
    if (!lane) {
      lane = new Lane(result.tenantId, this);
      this.lanes.set(result.tenantId, lane);
    }
    return lane.push(result);
  }

  /** @internal Lane callbacks. */
  get options(): Required<StatusWriterOptions> {
    return this.opts;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal One batch of one lane: its transaction and its after-flush hook, on one of the writer's slots. */
  async write(batch: SendResult[]): Promise<FlushedTasks> {
    return this.slots.run(async () => {
      // Looked up before the transaction (a kept answer is shared by every flush of the tenant).
      const subscribed = this.opts.subscriptions && batch.length ? await this.opts.subscriptions.typesOf(this.db, batch[0].tenantId) : undefined;
      const flushed = await withDeadlockRetry(() => this.db.transaction((trx) => writeResults(trx, batch, subscribed)));
      return flushed;
    });
  }

  /** @internal */
  async settle(flushed: FlushedTasks): Promise<void> {
    await this.slots.run(async () => {
      try {
        await this.afterFlush(flushed);
      } catch (err) {
        this.logger.warn({ err }, 'after-flush hook failed');
      }
    });
  }

  /** @internal */
  get log(): Logger {
    return this.logger;
  }

  /** @internal A lane with nothing buffered and nothing in flight leaves the map (no growth per tenant ever seen). */
  idle(lane: Lane): void {
    if (this.lanes.get(lane.tenantId) === lane && lane.isIdle) this.lanes.delete(lane.tenantId);
  }

  /**
   * Writes what is buffered, retrying failed flushes for up to `graceMs`. Results still unwritten then
   * are rejected: their messages stay `sending`, and the next sender re-sends them with the same key.
   */
  async close(graceMs = 10_000): Promise<void> {
    const lanes = [...this.lanes.values()];
    for (const lane of lanes) lane.drain();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(lanes.map((l) => l.flushing)), grace]);
    clearTimeout(timer);
    this.closed = true;
    // A batch still inside its transaction settles when that ends (rejected by its lane if it failed).
    for (const lane of this.lanes.values()) lane.stop();
  }
}

/** One tenant's buffer and flush chain. */
class Lane {
  buffer: Pending[] = [];
  flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Closing: flush everything buffered now, batch after batch, without waiting for the delay. */
  private draining = false;
  private inFlight = 0;
  /** A flush is chained and has not started: it will take whatever is buffered when it does. */
  private queued = false;
  private failures = 0;
  private wakeRetry: (() => void) | null = null;

  constructor(
    readonly tenantId: string,
    private readonly writer: StatusWriter,
  ) {}

  get flushesInFlight(): number {
    return this.inFlight;
  }

  get isIdle(): boolean {
    return !this.buffer.length && !this.inFlight && !this.timer;
  }

  push(result: SendResult): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.buffer.push({ result, resolve, reject });
      if (this.buffer.length >= this.writer.options.maxBatch) this.kick();
      else this.flushLater();
    });
  }

  /** A flush after the batching delay, unless one is already timed. */
  private flushLater(): void {
    this.timer ??= setTimeout(() => this.kick(), this.writer.options.maxDelayMs);
  }

  /** Flushes all that is buffered (and whatever arrives meanwhile) back to back: the writer is closing. */
  drain(): void {
    this.draining = true;
    this.kick();
  }

  kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // Flushes of a lane run one after another; each takes what is buffered when it starts. One waiting
    // flush is enough: chaining one per push while a slow flush ran grew the chain by the send rate
    // (128,000 links, 70 MB of a worker's heap, at 40% of a million-message send). flushOnce never rejects.
    if (this.queued) return;
    this.queued = true;
    this.inFlight += 1;
    this.flushing = this.flushing
      .then(() => {
        this.queued = false;
        return this.flushOnce();
      })
      .finally(() => {
        this.inFlight -= 1;
        this.writer.idle(this);
      });
  }

  private async flushOnce(): Promise<void> {
    const opts = this.writer.options;
    while (this.buffer.length && !this.writer.isClosed) {
      const batch = this.buffer.splice(0, opts.maxBatch);
      let flushed: FlushedTasks;
      try {
        flushed = await this.writer.write(batch.map((p) => p.result));
      } catch (err) {
        // Keep the batch, in order, ahead of anything recorded since; try again after a pause.
        this.buffer.unshift(...batch);
        this.failures += 1;
        this.writer.failedFlushes += 1;
        const delay = Math.min(opts.maxRetryDelayMs, opts.retryDelayMs * 2 ** Math.min(this.failures - 1, 16));
        this.writer.log.error({ err, tenantId: this.tenantId, pending: this.buffer.length, retryInMs: delay, failures: this.failures }, 'status flush failed; results kept and retried');
        await this.pause(delay);
        continue;
      }
      if (this.failures) this.writer.log.warn({ failures: this.failures, tenantId: this.tenantId }, 'status flush recovered');
      this.failures = 0;
      batch.forEach((p) => p.resolve());
      await this.writer.settle(flushed);
      // What arrived during this flush waits for its own timer (set by its first push) unless a full
      // batch is already there: under load a lane flushes every maxDelayMs at most, so batches grow
      // with the rate instead of staying at what one flush's round trips let in (fewer statements,
      // fewer commits and counter writes per message).
      if (this.buffer.length < opts.maxBatch && !this.draining) break;
    }
    // Left for the next flush (arrived during this one, beyond a batch): its timer, unless one is set or a flush is chained.
    if (this.buffer.length && !this.queued && !this.writer.isClosed) this.flushLater();
    if (this.writer.isClosed) this.rejectUnwritten();
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

  stop(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.wakeRetry?.();
    this.rejectUnwritten();
  }

  private rejectUnwritten(): void {
    const left = this.buffer.splice(0);
    if (!left.length) return;
    this.writer.log.error({ results: left.length, tenantId: this.tenantId }, 'status writer closed with unwritten results; their messages stay in sending and are re-sent with the same key');
    for (const p of left) p.reject(new Error('status writer closed'));
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

export async function writeResults(trx: Trx, results: SendResult[], subscribed?: SubscribedTypes): Promise<FlushedTasks> {
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
  // Webhook events of the rows this flush moved, committed with them (a tenant without endpoints writes none).
  const events = new Map<string, WebhookEvent[]>();
  const addEvents = (rows: SendResult[], n: number, event: (r: SendResult) => WebhookEvent) => {
    if (!n) return;
    for (const r of rows) {
      const list = events.get(r.tenantId);
      if (list) list.push(event(r));
      else events.set(r.tenantId, [event(r)]);
    }
  };
  const groupByTask = (rows: SendResult[]) => {
    const m = new Map<string | null, SendResult[]>();
    for (const r of rows) {
      const list = m.get(r.taskId);
      if (list) list.push(r);
      else m.set(r.taskId, [r]);
    }
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
    addEvents(rows, n, (r) => ({ type: 'message.sent', data: { message_id: r.id, task_id: r.taskId, gateway_message_id: (r.outcome as { gatewayMessageId: string }).gatewayMessageId, at: new Date().toISOString() } }));
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
    addEvents(rows, n, (r) => {
      const o = r.outcome as { errorCode: string; errorMessage: string };
      return { type: 'message.failed', data: { message_id: r.id, task_id: r.taskId, error_code: o.errorCode, error_message: o.errorMessage.slice(0, 500), at: new Date().toISOString() } };
    });
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
  const capped = new Map<string, number>();
  for (const [taskId, rows] of groupByTask(byKind('skipped'))) {
    const f = idFilter(rows);
    const codes = caseOf(rows, (r) => (r.outcome as { reason: string }).reason.slice(0, 50));
    const msgs = caseOf(rows, (r) => (r.outcome as { message: string }).message.slice(0, 2000));
    const n = await exec(trx, `UPDATE messages SET status = 'skipped', error_code = ${codes.sql}, error_message = ${msgs.sql} WHERE ${f.sql}`, [...codes.bindings, ...msgs.bindings, ...f.bindings]);
    if (taskId && n) capped.set(taskId, n);
  }
  const requeues = [...byKind('requeue'), ...byKind('held')];
  if (requeues.length) {
    const f = idFilter(requeues);
    await exec(trx, `UPDATE messages SET status = 'pending' WHERE ${f.sql}`, f.bindings);
  }

  // Counters in the same transaction as the rows they count, tasks in id order; each task's deltas go to
  // one shard row (no task row lock). The consecutive-error streak is settled after the commit.
  const tasks: FlushedTasks['tasks'] = new Map();
  const taskIds = [...new Set(unique.map((r) => r.taskId).filter((t): t is string => t !== null))].sort();
  for (const taskId of taskIds) {
    const rows = unique.filter((r) => r.taskId === taskId);
    const lastErr = [...rows].reverse().find((r) => IS_ERROR.has(r.outcome.kind))?.outcome as { errorCode: string; errorMessage: string } | undefined;
    let lastSuccess = -1;
    rows.forEach((r, i) => {
      if (r.outcome.kind === 'sent') lastSuccess = i;
    });
    const errorsAfter = rows.slice(lastSuccess + 1).filter((r) => IS_ERROR.has(r.outcome.kind)).length;
    tasks.set(taskId, { tenantId: rows[0].tenantId, lastError: lastErr ? `${lastErr.errorCode}: ${lastErr.errorMessage}` : undefined, hadSuccess: lastSuccess >= 0, errorsAfter });
    const c = counts.get(taskId) ?? { sent: 0, failed: 0, unknown: 0 };
    await addTaskCounts(trx, taskId, { sent: c.sent + c.failed + c.unknown, success: c.sent, failed: c.failed, unknown: c.unknown, cancelled: cancelled.get(taskId) ?? 0, capped: capped.get(taskId) ?? 0 });
  }
  for (const [tenantId, list] of events) await publishWebhookEvents(trx, tenantId, list, subscribed);
  return { tenantId: unique[0]?.tenantId, tasks, sentMessageIds: byKind('sent').map((r) => r.id) };
}
