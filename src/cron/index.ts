import type { AppContext } from '../context';

export interface RunningCron {
  close(): Promise<void>;
}

/** Starts the scheduled jobs of the `cron` role. Filled in by the cron module. */
export async function startCron(_ctx: AppContext): Promise<RunningCron> {
  return { close: async () => undefined };
}
