import type { Knex } from 'knex';
import { cutoffBeforeStartedTasks, monthPartitionEnd, partitionExpiredForAll, partitionHoldsAny, planCutoff } from '../domain/plan-retention';
import { listPartitions } from './partitions';

/**
 * Per-plan retention of `messages` (issue 17: never row-by-row deletes of a big month):
 * 1. a monthly partition holding only rows past their tenants' plan retention is emptied whole
 *    (TRUNCATE PARTITION: instant, whatever its size);
 * 2. in partitions other tenants still keep, a short-plan tenant's expired rows are deleted in batches by
 *    primary key, each batch found by keyset along idx_tenant_time (never rescanning rows already
 *    deleted), tenants taking turns batch by batch, until done or the run's time budget is spent; the rest
 *    goes next run (the oldest rows are always the next ones).
 * Neither touches rows a started task (running or paused) may still write: its rows' created_at is its
 * start, however long ago, so the partition holding that time is not emptied and the tenant's deletion
 * stops before it, until the task ends.
 */
export interface PlanRetentionResult {
  truncated: string[];
  deleted: Record<string, number>;
  /** False when the budget ran out before every expired row was deleted. */
  complete: boolean;
}

export async function applyPlanRetention(
  db: Knex,
  planDays: Record<string, number>,
  now: Date,
  opts: { batch: number; budgetMs: number },
): Promise<PlanRetentionResult> {
  const deadline = Date.now() + opts.budgetMs;
  const started = await startedTaskWriteTimes(db);
  const truncated = await truncateExpiredPartitions(db, planDays, now, started.map((t) => t.at));
  const deleted: Record<string, number> = {};
  const plans = Object.keys(planDays);
  const tenants: Array<{ id: string; plan: string }> = plans.length ? await db('tenants').whereIn('plan', plans).select('id', 'plan') : [];
  let turns = tenants.map((t) => ({
    ...t,
    cutoff: cutoffBeforeStartedTasks(planCutoff(planDays, t.plan, now)!, started.filter((s) => s.tenantId === t.id).map((s) => s.at)),
    after: null as { created_at: Date; id: string } | null,
  }));
  while (turns.length > 0) {
    if (Date.now() >= deadline) return { truncated, deleted, complete: false };
    const next: typeof turns = [];
    for (const t of turns) {
      if (Date.now() >= deadline) return { truncated, deleted, complete: false };
      const { n, last } = await deleteBatch(db, t.id, t.cutoff, t.after, opts.batch);
      if (n > 0) deleted[t.plan] = (deleted[t.plan] ?? 0) + n;
      if (last) next.push({ ...t, after: last });
    }
    turns = next;
  }
  return { truncated, deleted, complete: true };
}

/**
 * The created_at each started task (running or paused) writes its messages with: its start (message-ids.ts
 * taskIdTime), which may lie in a month retention would otherwise empty.
 */
export async function startedTaskWriteTimes(db: Knex): Promise<Array<{ tenantId: string; at: Date }>> {
  const rows: Array<{ tenant_id: string; at: Date }> = await db('batch_send_tasks')
    .whereIn('status', ['running', 'paused'])
    .select('tenant_id', db.raw('COALESCE(start_time, created_at) AS at'));
  return rows.map((r) => ({ tenantId: r.tenant_id, at: new Date(r.at) }));
}

/** Monthly partitions of messages whose every tenant's plan has expired them, and no started task still writes, emptied whole. */
async function truncateExpiredPartitions(db: Knex, planDays: Record<string, number>, now: Date, startedTaskTimes: Date[]): Promise<string[]> {
  const out: string[] = [];
  const shortest = Math.min(...Object.values(planDays));
  if (!Number.isFinite(shortest)) return out;
  let lowerBound: Date | null = null;
  for (const p of await listPartitions(db, 'messages')) {
    const end = monthPartitionEnd(p.name);
    if (!end) continue;
    // Partitions come oldest first; past this one no plan has expired a whole month.
    if (end.getTime() > now.getTime() - shortest * 86_400_000) break;
    const holdsStartedTask = partitionHoldsAny(lowerBound, end, startedTaskTimes);
    lowerBound = end;
    if (holdsStartedTask) continue;
    // A loose scan of idx_tenant_time: one entry per tenant, not per row.
    const [rows] = (await db.raw(`SELECT DISTINCT tenant_id FROM messages PARTITION (\`${p.name}\`)`)) as [Array<{ tenant_id: string }>];
    if (rows.length === 0) continue;
    const ids = rows.map((r) => r.tenant_id);
    const known: Array<{ id: string; plan: string | null }> = await db('tenants').whereIn('id', ids).select('id', 'plan');
    // A tenant missing from `tenants` counts as unknown (kept): only plans decide.
    const plans = ids.map((id) => known.find((k) => k.id === id)?.plan ?? null);
    if (!partitionExpiredForAll(end, plans, planDays, now)) continue;
    await db.raw(`ALTER TABLE messages TRUNCATE PARTITION \`${p.name}\``);
    out.push(p.name);
  }
  return out;
}

/** One batch of a tenant's rows created before `cutoff`, after the keyset position `after`; returns how many went and the new position (null when none are left). */
async function deleteBatch(
  db: Knex,
  tenantId: string,
  cutoff: Date,
  after: { created_at: Date; id: string } | null,
  batch: number,
): Promise<{ n: number; last: { created_at: Date; id: string } | null }> {
  const q = db('messages').where('tenant_id', tenantId).andWhere('created_at', '<', cutoff).orderBy('created_at').orderBy('id').limit(batch).select('id', 'created_at');
  if (after) q.andWhere((w) => w.where('created_at', '>', after.created_at).orWhere((x) => x.where('created_at', after.created_at).andWhere('id', '>', after.id)));
  const rows: Array<{ id: string; created_at: Date }> = await q;
  if (rows.length === 0) return { n: 0, last: null };
  // By primary key (id, created_at); the created_at bounds prune the partitions each id is looked up in.
  const n = await db('messages')
    .where('tenant_id', tenantId)
    .whereIn('id', rows.map((r) => r.id))
    .andWhereBetween('created_at', [rows[0].created_at, rows[rows.length - 1].created_at])
    .delete();
  return { n, last: rows.length < batch ? null : rows[rows.length - 1] };
}
