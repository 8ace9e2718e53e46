import { hostname } from 'node:os';
import type { AppContext } from '../context';
import { finishRun, insertRunningRun, insertSkippedRun } from '../db/cron-runs';
import { redisKey } from '../redis';
import type { CronJob } from './job';
import { acquireLock } from './lock';

export const RUNNER_ID = `${hostname()}:${process.pid}`;
const DEFAULT_LOCK_TTL_MS = 10 * 60_000;
/** How long a tick stays claimed: longer than any clock skew between cron processes. */
const TICK_CLAIM_TTL_MS = 60 * 60_000;

export type RunOutcome =
  | { outcome: 'success'; runId: number; result: Record<string, unknown> | undefined }
  | { outcome: 'failed'; runId: number; error: string }
  | { outcome: 'skipped'; reason: string }
  /** Another process already claimed this tick: nothing recorded here. */
  | { outcome: 'not_elected' };

/** Ticks are identified to the second, so every process firing for the same schedule moment agrees. */
export function tickOf(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/**
 * Runs one job for one tick, at most once across all cron processes:
 * 1. claim the tick (SET NX on `cron:<job>:tick:<iso>`): the first process to fire wins, a late one
 *    whose timer fires after the winner finished does not run the tick again;
 * 2. take the job lock (`cron:<job>`, token-owned, extended while running): if a previous tick's run
 *    is still going, this tick is recorded as skipped instead of running concurrently;
 * 3. record the run in cron_job_runs (running → success/failed with duration and result) and emit
 *    a `cron_run` metric.
 */
export async function runJobOnce(ctx: AppContext, job: CronJob, now: Date): Promise<RunOutcome> {
  const prefix = ctx.config.redis.prefix;
  const tick = tickOf(now);
  const claimed = await ctx.redis.set(redisKey(prefix, 'cron', job.name, 'tick', tick.toISOString()), RUNNER_ID, 'PX', TICK_CLAIM_TTL_MS, 'NX');
  if (claimed !== 'OK') return { outcome: 'not_elected' };

  const ttl = job.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const lock = await acquireLock(ctx.redis, redisKey(prefix, 'cron', job.name), ttl);
  if (!lock) {
    const reason = 'previous run still in progress';
    await insertSkippedRun(ctx.db, { jobName: job.name, tickAt: tick, at: new Date(), host: RUNNER_ID, reason });
    ctx.metrics.recordCronRun({ job: job.name, outcome: 'skipped', durationMs: 0 });
    return { outcome: 'skipped', reason };
  }

  const keepAlive = setInterval(() => {
    lock.extend(ttl).catch(() => undefined);
  }, Math.max(1000, Math.floor(ttl / 3)));
  keepAlive.unref();
  const startedAt = new Date();
  const started = process.hrtime.bigint();
  const elapsedMs = () => Number((process.hrtime.bigint() - started) / 1_000_000n);
  try {
    const runId = await insertRunningRun(ctx.db, { jobName: job.name, tickAt: tick, startedAt, host: RUNNER_ID });
    try {
      const result = (await job.run(ctx, now)) ?? undefined;
      const durationMs = elapsedMs();
      await finishRun(ctx.db, runId, { finishedAt: new Date(), durationMs, outcome: 'success', result });
      ctx.metrics.recordCronRun({ job: job.name, outcome: 'success', durationMs });
      ctx.logger.info({ job: job.name, durationMs, result }, 'cron job finished');
      return { outcome: 'success', runId, result };
    } catch (err) {
      const durationMs = elapsedMs();
      const message = err instanceof Error ? err.message : String(err);
      await finishRun(ctx.db, runId, { finishedAt: new Date(), durationMs, outcome: 'failed', error: message });
      ctx.metrics.recordCronRun({ job: job.name, outcome: 'failed', durationMs });
      ctx.logger.error({ job: job.name, err }, 'cron job failed');
      return { outcome: 'failed', runId, error: message };
    }
  } finally {
    clearInterval(keepAlive);
    await lock.release().catch(() => undefined);
  }
}
