import type { AppContext } from '../context';

/**
 * A scheduled job. The cron runner takes a Redis lock per job and tick so that, with several cron
 * processes running, each job runs once per tick; every run is recorded in the job history.
 */
export interface CronJob {
  name: string;
  /** node-cron expression (seconds field allowed), in UTC. */
  schedule: string;
  run(ctx: AppContext, now: Date): Promise<Record<string, unknown> | void>;
  /** How long one run may hold the job's lock before another process may start it (default 10 min; extended while running). */
  lockTtlMs?: number;
}
