import type { CronJob } from '../job';

/**
 * A running task that has not progressed for STUCK_TASK_MINUTES is flagged: every sent or failed
 * message bumps one of the task's counter shards (task_counters.updated_at), and every action changes
 * the task row (updated_at), so silence in both means the pipeline stopped
 * (worker down, all accounts offline, a lost queue job). The task keeps its status — an operator or
 * the pipeline decides what happens next — but error_message says why it is flagged, the tenant gets a
 * `task.stalled` realtime event, and the count goes to metrics. updated_at is kept as it was so the
 * stall stays measurable, and a task is flagged once per stall.
 */
export const STALL_PREFIX = 'stalled: no progress since';

export const stuckTaskJob: CronJob = {
  name: 'stuck-task-detection',
  schedule: '0 */5 * * * *',
  async run(ctx, now) {
    const cutoff = new Date(now.getTime() - ctx.config.stuckTaskMinutes * 60_000);
    const stuck: Array<{ id: string; tenant_id: string; updated_at: Date; last_count_at: Date | null; error_message: string | null }> = await ctx
      .db('batch_send_tasks as t')
      .where('t.status', 'running')
      .where('t.updated_at', '<', cutoff)
      .select('t.id', 't.tenant_id', 't.updated_at', 't.error_message', ctx.db.raw('(SELECT MAX(c.updated_at) FROM task_counters c WHERE c.task_id = t.id) AS last_count_at'))
      .havingRaw('last_count_at IS NULL OR last_count_at < ?', [cutoff])
      .limit(1000);
    let flagged = 0;
    for (const t of stuck) {
      if (t.error_message?.startsWith(STALL_PREFIX)) continue;
      const lastProgress = t.last_count_at && t.last_count_at > t.updated_at ? t.last_count_at : t.updated_at;
      const message = `${STALL_PREFIX} ${lastProgress.toISOString()}`;
      const n = await ctx
        .db('batch_send_tasks')
        .where({ id: t.id, status: 'running' })
        .where('updated_at', t.updated_at)
        .update({ error_message: message, updated_at: t.updated_at });
      if (n === 0) continue; // progressed meanwhile
      flagged++;
      await ctx.realtime.toTenant(t.tenant_id, 'task.stalled', { task_id: t.id, last_progress_at: lastProgress.toISOString() });
    }
    ctx.metrics.gauge('tasks_stalled', stuck.length);
    return { stalled: stuck.length, newly_flagged: flagged };
  },
};
