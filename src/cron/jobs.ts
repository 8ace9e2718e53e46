import type { CronJob } from './job';

/** Every scheduled job of the `cron` role. Modules add their jobs here, one line each. */
export const CRON_JOBS: CronJob[] = [];
