import type { CronJob } from './job';
import { callbackSweeperJob } from './jobs/callback-sweeper';

/** Every scheduled job of the `cron` role. Modules add their jobs here, one line each. */
export const CRON_JOBS: CronJob[] = [callbackSweeperJob];
