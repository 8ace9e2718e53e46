import type { AppContext } from '../../context';
import { maintainAllPartitions, PARTITIONED_TABLES } from '../../db/partitions';
import type { CronJob } from '../job';

const BATCH = 5000;
/** Per run, per tenant: bounds how long one run can spend deleting (the rest goes next run). */
const MAX_BATCHES_PER_TENANT = 20;

/**
 * Partitions are shared by all tenants, so whole months are dropped only past each table's retention
 * (RETENTION_<TABLE>_MONTHS, at least as long as the longest plan retention, so no plan loses data
 * early). Tenants on plans with a shorter message retention (RETENTION_PLAN_MESSAGE_DAYS, from the
 * design's basic 30 / pro 90 / enterprise 365 days) have their older messages deleted row-wise in
 * bounded batches along the (tenant_id, created_at) index.
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

export async function deleteMessagesPastPlanRetention(ctx: AppContext, now: Date): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const [plan, days] of Object.entries(ctx.config.retention.planMessageDays)) {
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    const tenants: Array<{ id: string }> = await ctx.db('tenants').where('plan', plan).select('id');
    for (const { id } of tenants) {
      for (let i = 0; i < MAX_BATCHES_PER_TENANT; i++) {
        const n = await ctx.db('messages').where('tenant_id', id).where('created_at', '<', cutoff).limit(BATCH).delete();
        if (n > 0) deleted[plan] = (deleted[plan] ?? 0) + n;
        if (n < BATCH) break;
      }
    }
  }
  return deleted;
}

export const partitionMaintenanceJob: CronJob = {
  name: 'partition-maintenance',
  schedule: '0 15 2 * * *',
  lockTtlMs: 30 * 60_000,
  async run(ctx, now) {
    const results = await maintainAllPartitions(ctx.db, { now, monthsAhead: ctx.config.partitions.monthsAhead, retention: partitionRetention(ctx) });
    const planDeletes = await deleteMessagesPastPlanRetention(ctx, now);
    return {
      created: Object.fromEntries(results.filter((r) => r.created.length).map((r) => [r.table, r.created])),
      dropped: Object.fromEntries(results.filter((r) => r.dropped.length).map((r) => [r.table, r.dropped])),
      plan_deleted_messages: planDeletes,
    };
  },
};
