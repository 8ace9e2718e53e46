import { QUEUE } from '../../queues/names';
import { allShardPrefixes } from '../../redis-keyspace';
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
      // The message-send queue has one BullMQ queue per hash-tag shard: its depth is their sum.
      const prefixes = name === QUEUE.messageSend ? allShardPrefixes(ctx.config.redis) : [ctx.config.redis.prefix];
      const counts: Record<string, number> = {};
      for (const prefix of prefixes) {
        const c = await ctx.queues.get(name, prefix).getJobCounts(...STATES);
        for (const [state, n] of Object.entries(c)) counts[state] = (counts[state] ?? 0) + n;
      }
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
