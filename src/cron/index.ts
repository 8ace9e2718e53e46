import cron, { type ScheduledTask } from 'node-cron';
import type { AppContext } from '../context';
import type { CronJob } from './job';
import { CRON_JOBS } from './jobs';
import { runJobOnce, type RunOutcome } from './runner';

export { runJobOnce } from './runner';

export interface RunningCron {
  close(): Promise<void>;
}

export interface CronOptions {
  /** Observes every tick's outcome in this process (tests, diagnostics). */
  onTick?: (job: string, outcome: RunOutcome['outcome']) => void;
}

/**
 * Starts the scheduled jobs of the `cron` role: each job of CRON_JOBS on its schedule in UTC. Several
 * cron processes may run; `runJobOnce` makes each tick run once across all of them. Close stops the
 * schedules and waits for runs in progress.
 */
export async function startCron(ctx: AppContext, jobs: readonly CronJob[] = CRON_JOBS, opts: CronOptions = {}): Promise<RunningCron> {
  const inFlight = new Set<Promise<unknown>>();
  const tasks: ScheduledTask[] = [];
  for (const job of jobs) {
    if (!cron.validate(job.schedule)) throw new Error(`cron job ${job.name}: invalid schedule ${job.schedule}`);
    const task = cron.schedule(
      job.schedule,
      (context) => {
        const run = runJobOnce(ctx, job, context.date)
          .then((r) => opts.onTick?.(job.name, r.outcome))
          .catch((err) => ctx.logger.error({ job: job.name, err }, 'cron tick failed before the job ran'))
          .finally(() => inFlight.delete(run));
        inFlight.add(run);
      },
      // node-cron keeps a process-wide task registry; a suffix lets several runners share a process (tests).
      { timezone: 'UTC', name: `${job.name}-${Math.random().toString(36).slice(2, 8)}` },
    );
    tasks.push(task);
  }
  ctx.logger.info({ jobs: jobs.map((j) => j.name) }, 'cron started');
  return {
    async close() {
      for (const t of tasks) await t.destroy();
      await Promise.allSettled([...inFlight]);
    },
  };
}
