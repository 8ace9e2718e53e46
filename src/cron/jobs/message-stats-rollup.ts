import { hourStart, rollupMessageStatistics } from '../../db/statistics';
import type { CronJob } from '../job';

/**
 * Recomputes the last ROLLUP_HOURS_BACK hours (and the current one) of message_statistics every ten
 * minutes: late delivery receipts change the numbers of past hours, and the roll-up replaces values,
 * so re-running is harmless.
 */
export const messageStatsRollupJob: CronJob = {
  name: 'message-stats-rollup',
  schedule: '0 */10 * * * *',
  async run(ctx, now) {
    const from = new Date(hourStart(now).getTime() - ctx.config.rollupHoursBack * 3_600_000);
    const to = new Date(hourStart(now).getTime() + 3_600_000);
    const res = await rollupMessageStatistics(ctx.db, from, to);
    return { from: from.toISOString(), to: to.toISOString(), ...res };
  },
};
