import type { AppContext } from '../../context';
import { applyPlanRetention, startedTaskWriteTimes } from '../../db/message-retention';
import { maintainAllPartitions, PARTITIONED_TABLES } from '../../db/partitions';
import type { CronJob } from '../job';

const BATCH = 5000;
/** Per run: bounds how long plan retention spends deleting rows (the rest goes next run), well inside the lock. */
const PLAN_RETENTION_BUDGET_MS = 10 * 60_000;

/**
 * Partitions are shared by all tenants, so whole months are dropped only past each table's retention
 * (RETENTION_<TABLE>_MONTHS, at least as long as the longest plan retention, so no plan loses data
 * early). Tenants on plans with a shorter message retention (RETENTION_PLAN_MESSAGE_DAYS, from the
 * design's basic 30 / pro 90 / enterprise 365 days) lose their older messages by whole partitions where
 * only such tenants have rows, else in bounded batches (src/db/message-retention.ts).
 */
export function partitionRetention(ctx: AppContext): Record<string, number> {
  // N calendar months back from today always spans at least N × 365/12 days.
  const longestPlanMonths = Math.ceil((Math.max(0, ...Object.values(ctx.config.retention.planMessageDays)) * 12) / 365);
  const out: Record<string, number> = {};
  for (const spec of PARTITIONED_TABLES) {
    const months = ctx.config.retention.partitionMonths[spec.table] ?? spec.retentionMonths;
    out[spec.table] = spec.table === 'messages' ? Math.max(months, longestPlanMonths) : months;
  }
  return out;
}

export const partitionMaintenanceJob: CronJob = {
  name: 'partition-maintenance',
  schedule: '0 15 2 * * *',
  lockTtlMs: 30 * 60_000,
  async run(ctx, now) {
    // A month a started task still writes its messages into is not dropped (however old the task).
    const started = (await startedTaskWriteTimes(ctx.db)).map((t) => t.at);
    const results = await maintainAllPartitions(ctx.db, { now, monthsAhead: ctx.config.partitions.monthsAhead, retention: partitionRetention(ctx), keepTimes: { messages: started } });
    const plan = await applyPlanRetention(ctx.db, ctx.config.retention.planMessageDays, now, { batch: BATCH, budgetMs: PLAN_RETENTION_BUDGET_MS });
    return {
      created: Object.fromEntries(results.filter((r) => r.created.length).map((r) => [r.table, r.created])),
      dropped: Object.fromEntries(results.filter((r) => r.dropped.length).map((r) => [r.table, r.dropped])),
      plan_truncated_partitions: plan.truncated,
      plan_deleted_messages: plan.deleted,
      ...(plan.complete ? {} : { plan_retention_incomplete: true }),
    };
  },
};
