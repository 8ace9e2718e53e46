import type { AppContext } from '../context';
import { endTask } from './task-outcomes';
import { InvalidTransitionError } from '../errors';
import { DEFAULT_SENDER_OPTIONS } from './account-sender';
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
export async function sweepOnce(
  ctx: Ctx,
  opts: { accounts?: boolean; leaseTtlMs?: number } = {},
): Promise<{ started: number; expansions: number; ended: number; drains: number; kicked: number; takeovers: number; accountsMs: number }> {
  const prefix = ctx.config.redis.prefix;
  const stats = { started: 0, expansions: 0, ended: 0, drains: 0, kicked: 0, takeovers: 0, accountsMs: 0 };

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

  if (opts.accounts === false) return stats;
  const accountsFrom = Date.now();
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
    const { idle, expiring } = await idleAccounts(ctx, accounts, Math.floor((opts.leaseTtlMs ?? DEFAULT_SENDER_OPTIONS.lockTtlMs) / 2));
    // One waiting sweep kick per account at most: a kick not yet taken is not added again each second
    // (10,000 accounts with work kicked every second piled up ~100,000 jobs that the worker then ate).
    await kickAccounts(ctx, idle, 0, 'sweep');
    // A lease its holder stopped renewing (renewals come every third of its life, so one below half is a
    // missed renewal: the holder died or stalls) gets a kick for the moment it expires, not for the next
    // sweep after that: a killed worker's accounts send again about one lease after the kill.
    for (const [delayMs, ids] of byDelay(expiring)) await kickAccounts(ctx, ids, delayMs, 'sweep');
    stats.kicked = idle.length;
    stats.takeovers = expiring.length;
  }
  stats.accountsMs = Date.now() - accountsFrom;
  return stats;
}

/**
 * Of `ids`, the accounts that no sender holds (no lease) and that wait for nothing (no sleep mark), and those
 * whose lease will expire within `expiringBelowMs` (with its remaining life): one Lua call per 500 accounts
 * of a hash-tag shard, not two commands per account (20,000 a second at 10,000 accounts, most of the
 * worker's Redis client CPU).
 */
const IDLE_OF = `
local out = {}
local below = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local ttl = redis.call('PTTL', KEYS[i + 1])
    if ttl == -2 or (ttl >= 0 and ttl < below) then
      out[#out + 1] = (i + 1) / 2
      out[#out + 1] = ttl
    end
  end
end
return out`;
type IdleRedis = Ctx['redis'] & { wwpIdleOf(numKeys: number, ...args: Array<string | number>): Promise<number[]> };

async function idleAccounts(ctx: Ctx, accounts: string[], expiringBelowMs: number): Promise<{ idle: string[]; expiring: Array<[string, number]> }> {
  const r = ctx.redis as IdleRedis;
  if (!(r as { wwpIdleOf?: unknown }).wwpIdleOf) ctx.redis.defineCommand('wwpIdleOf', { lua: IDLE_OF });
  const idle: string[] = [];
  const expiring: Array<[string, number]> = [];
  await Promise.all(
    // A multi-key script only gets keys of one hash tag (the account's shard), so it runs on Redis Cluster.
    groupByHashTag(accounts, (id) => keys.accountLock(ctx.config.redis, id)).map(async (group) => {
      for (let i = 0; i < group.length; i += 500) {
        const chunk = group.slice(i, i + 500);
        const ks = chunk.flatMap((id) => [keys.sleep(ctx.config.redis, id), keys.accountLock(ctx.config.redis, id)]);
        const found = await r.wwpIdleOf(ks.length, ...ks, expiringBelowMs);
        for (let j = 0; j < found.length; j += 2) {
          const id = chunk[found[j] - 1];
          if (found[j + 1] < 0) idle.push(id);
          else expiring.push([id, found[j + 1]]);
        }
      }
    }),
  );
  return { idle, expiring };
}

/**
 * How long after a lease's expiry its kick is due, at least: the kick's delay runs on this process's clock
 * from when it is added, the lease on Redis's from the probe, so "1 ms after" could land on the expiry
 * itself (seen once in a test), and a kick that finds the lease still held does nothing.
 */
const KICK_AFTER_EXPIRY_MS = 50;

/** Expiring leases grouped by when to kick (just after expiry, in 100 ms steps): a few bulk adds, not one per account. */
function byDelay(expiring: Array<[string, number]>): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const [id, ttl] of expiring) {
    const delayMs = Math.ceil((ttl + KICK_AFTER_EXPIRY_MS) / 100) * 100;
    groups.set(delayMs, [...(groups.get(delayMs) ?? []), id]);
  }
  return groups;
}

/**
 * Runs `sweepOnce` every `intervalMs` in this process when it wins the interval's lock. The accounts part
 * (one probe per online account, then Redis) grows with the fleet: it runs again only after nine times
 * its last duration, so it takes at most a tenth of the time (10,000 accounts under load: 0.5 s, so every
 * ~5 s rather than half of every second); a small fleet's is a few ms, so every tick.
 */
// Every second: with the 3 s account lock, a killed worker's accounts get their kick for the moment its
// lease expires, 2-3 s after the kill (at fleet size, within the accounts part's interval more).
export function startSweeper(ctx: Ctx, intervalMs = 1_000, leaseTtlMs = DEFAULT_SENDER_OPTIONS.lockTtlMs): { stop(): Promise<void> } {
  let running: Promise<unknown> | null = null;
  let accountsDueAt = 0;
  const tick = () => {
    if (running) return;
    running = (async () => {
      const won = await ctx.redis.set(keys.sweepLock(ctx.config.redis.prefix), '1', 'PX', Math.max(500, intervalMs - 200), 'NX');
      if (won !== 'OK') return;
      const accounts = Date.now() >= accountsDueAt;
      const { accountsMs } = await sweepOnce(ctx, { accounts, leaseTtlMs });
      if (accounts) accountsDueAt = Date.now() + Math.min(30_000, 9 * accountsMs);
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
