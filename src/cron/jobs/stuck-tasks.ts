import type { CronJob } from '../job';

/**
 * A running task whose row has not changed for STUCK_TASK_MINUTES is flagged: every sent or failed
 * message bumps the task's counters (and so updated_at), so silence means the pipeline stopped
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
    const stuck: Array<{ id: string; tenant_id: string; updated_at: Date; error_message: string | null }> = await ctx
      .db('batch_send_tasks')
      .where('status', 'running')
      .where('updated_at', '<', cutoff)
      .select('id', 'tenant_id', 'updated_at', 'error_message')
      .limit(1000);
    let flagged = 0;
    for (const t of stuck) {
      if (t.error_message?.startsWith(STALL_PREFIX)) continue;
      const message = `${STALL_PREFIX} ${t.updated_at.toISOString()}`;
      const n = await ctx
        .db('batch_send_tasks')
        .where({ id: t.id, status: 'running' })
        .where('updated_at', t.updated_at)
        .update({ error_message: message, updated_at: t.updated_at });
      if (n === 0) continue; // progressed meanwhile
      flagged++;
      await ctx.realtime.toTenant(t.tenant_id, 'task.stalled', { task_id: t.id, last_progress_at: t.updated_at.toISOString() });
    }
    ctx.metrics.gauge('tasks_stalled', stuck.length);
    return { stalled: stuck.length, newly_flagged: flagged };
  },
};
