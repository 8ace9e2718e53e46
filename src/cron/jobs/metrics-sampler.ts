import { QUEUE } from '../../queues/names';
import type { CronJob } from '../job';

const STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;

/**
 * Samples what is not an event: BullMQ queue depths per state (`queue_depth`, tags queue and state)
 * and online accounts per tenant (`accounts_online`, tag tenant). Every minute.
 */
export const metricsSamplerJob: CronJob = {
  name: 'metrics-sampler',
  schedule: '0 * * * * *',
  async run(ctx) {
    const depths: Record<string, Record<string, number>> = {};
    for (const name of Object.values(QUEUE)) {
      const counts = await ctx.queues.get(name).getJobCounts(...STATES);
      depths[name] = counts;
      for (const state of STATES) ctx.metrics.gauge('queue_depth', counts[state] ?? 0, { queue: name, state });
    }
    const online: Array<{ tenant_id: string; n: number }> = await ctx
      .db('wework_accounts')
      .where('status', 'online')
      .groupBy('tenant_id')
      .select('tenant_id', ctx.db.raw('COUNT(*) AS n'));
    for (const r of online) ctx.metrics.gauge('accounts_online', Number(r.n), { tenant: r.tenant_id });
    return { queues: depths, tenants_with_online_accounts: online.length };
  },
};
