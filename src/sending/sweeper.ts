import type { AppContext } from '../context';
import { endTask } from './task-outcomes';
import { InvalidTransitionError } from '../errors';
import { enqueueExpansion, kickAccounts } from './kicks';
import { groupByHashTag } from '../redis-keyspace';
import { keys } from './redis-scripts';
import { applyTaskAction } from './task-control';
import { enqueueDrain, undrainedTasks } from './task-drain';
import { emitTaskStatus, publishProgress } from './task-events';

type Ctx = Pick<AppContext, 'db' | 'redis' | 'queues' | 'realtime' | 'config' | 'logger'>;

/**
 * The safety net that makes every crash and every lost kick recoverable, run every few seconds by one
 * worker process at a time (a Redis lock per interval). MySQL is the truth; this re-derives work from it:
 * - tasks whose scheduled start passed are started;
 * - running tasks whose expansion is unfinished and nobody expands are re-queued (resume from cursor);
 * - running tasks whose messages are all terminal are ended;
 * - online accounts with claimable messages (pending singles, pending messages of running tasks) or
 *   orphaned `sending` ones get a sender (unless one holds the account, or it is waiting for a window,
 *   the daily cap or the gateway);
 * - cancelled tasks that still have pending messages get a drain (lost, or a retry came back after it).
 */
export async function sweepOnce(ctx: Ctx): Promise<{ started: number; expansions: number; ended: number; drains: number; kicked: number }> {
  const prefix = ctx.config.redis.prefix;
  const stats = { started: 0, expansions: 0, ended: 0, drains: 0, kicked: 0 };

  const due = await ctx.db('batch_send_tasks').select('id', 'tenant_id').where({ status: 'created' }).andWhere('scheduled_time', '<=', ctx.db.fn.now(3)).limit(100);
  for (const t of due) {
    try {
      await applyTaskAction(ctx, t.tenant_id, t.id, 'start');
      stats.started += 1;
    } catch (err) {
      if (!(err instanceof InvalidTransitionError)) throw err;
    }
  }

  const unexpanded = await ctx.db('batch_send_tasks').select('id').whereIn('status', ['running', 'paused']).andWhere({ expansion_done: 0 }).limit(500);
  for (const t of unexpanded) {
    if (!(await ctx.redis.exists(keys.expandLock(prefix, t.id)))) {
      await enqueueExpansion(ctx, t.id);
      stats.expansions += 1;
    }
  }

  // Running tasks whose counters reached their total (a task with no counter rows yet is ended by its expansion).
  const [running] = (await ctx.db.raw(
    `SELECT t.id, t.tenant_id FROM batch_send_tasks t JOIN task_counters c ON c.task_id = t.id
      WHERE t.status = 'running' AND t.expansion_done = 1
      GROUP BY t.id, t.tenant_id, t.total_count HAVING SUM(c.sent + c.cancelled) >= t.total_count LIMIT 500`,
  )) as [Array<{ id: string; tenant_id: string }>];
  for (const t of running) {
    const ended = await endTask(ctx, t.id, t.tenant_id);
    if (ended) {
      emitTaskStatus(ctx, t.tenant_id, t.id, ended);
      await publishProgress(ctx, t.id, { force: true });
      stats.ended += 1;
    }
  }

  for (const id of await undrainedTasks(ctx)) {
    await enqueueDrain(ctx, id);
    stats.drains += 1;
  }

  // Accounts with work a sender could do now: orphans in `sending`, pending single messages, pending
  // messages of a running task. A paused or cancelled task's pending rows are not work: kicking their
  // accounts every second made each idle sender scan them all (a paused 1M-message task, forever). Each
  // probe is a range of idx_account_claim (account_id, status, batch_id, …), forced: with 10,000 accounts
  // the optimizer picked idx_account_time (every message of the account) or materialized the whole
  // index for the first two, 1.6–2.0 s per run against 0.5–0.6 s with the LIMIT 1 probes below.
  const [rows] = (await ctx.db.raw(
    `SELECT a.id FROM wework_accounts a
      WHERE a.status = 'online' AND (
        (SELECT 1 FROM messages m FORCE INDEX (idx_account_claim) WHERE m.account_id = a.id AND m.status = 'sending' LIMIT 1) IS NOT NULL
        OR (SELECT 1 FROM messages m FORCE INDEX (idx_account_claim) WHERE m.account_id = a.id AND m.status = 'pending' AND m.batch_id IS NULL LIMIT 1) IS NOT NULL
        OR EXISTS (SELECT 1 FROM batch_send_tasks t JOIN messages m FORCE INDEX (idx_account_claim) ON m.account_id = a.id AND m.status = 'pending' AND m.batch_id = t.id
                    WHERE t.tenant_id = a.tenant_id AND t.status = 'running'))`,
  )) as [Array<{ id: string }>];
  const accounts = rows.map((r) => r.id);
  if (accounts.length) {
    // One pipeline per hash-tag shard: a Redis Cluster pipeline must stay within one slot.
    const busy = new Set<string>();
    await Promise.all(
      groupByHashTag(accounts, (id) => keys.accountLock(ctx.config.redis, id)).map(async (group) => {
        const pipe = ctx.redis.pipeline();
        for (const id of group) pipe.exists(keys.sleep(ctx.config.redis, id)).exists(keys.accountLock(ctx.config.redis, id));
        const res = (await pipe.exec()) ?? [];
        group.forEach((id, i) => {
          if (res[2 * i]?.[1] || res[2 * i + 1]?.[1]) busy.add(id);
        });
      }),
    );
    const idle = accounts.filter((id) => !busy.has(id));
    await kickAccounts(ctx, idle);
    stats.kicked = idle.length;
  }
  return stats;
}

/** Runs `sweepOnce` every `intervalMs` in this process when it wins the interval's lock. */
// Every second: with the 3 s account lock, a killed worker's accounts are picked up again within ~4 s.
export function startSweeper(ctx: Ctx, intervalMs = 1_000): { stop(): Promise<void> } {
  let running: Promise<unknown> | null = null;
  const tick = () => {
    if (running) return;
    running = (async () => {
      const won = await ctx.redis.set(keys.sweepLock(ctx.config.redis.prefix), '1', 'PX', Math.max(500, intervalMs - 200), 'NX');
      if (won === 'OK') await sweepOnce(ctx);
    })()
      .catch((err) => ctx.logger.warn({ err }, 'send sweeper failed'))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  setImmediate(tick);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
