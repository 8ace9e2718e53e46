import { randomBytes } from 'node:crypto';
import { messageStatsRollupJob } from '../../src/cron/jobs/message-stats-rollup';
import { partitionMaintenanceJob } from '../../src/cron/jobs/partition-maintenance';
import { retentionCleanupJob } from '../../src/cron/jobs/retention-cleanup';
import { STALL_PREFIX, stuckTaskJob } from '../../src/cron/jobs/stuck-tasks';
import { runJobOnce } from '../../src/cron/runner';
import { newId } from '../../src/db/ids';
import { listPartitions, monthPartition, partitionClause, partitionRange } from '../../src/db/partitions';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';

let env: TestEnv;
let t1: TestTenant;
let t2: TestTenant;
beforeAll(async () => {
  env = await createTestEnv('cronjobs');
  [t1, t2] = [await createTenant(env), await createTenant(env)];
});
afterAll(() => env.close());

const NOW = new Date('2026-11-23T12:30:00Z');
const monthsAgo = (n: number, day = 10) => new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth() - n, day, 8));

function message(tenantId: string, accountId: string, createdAt: Date, status: string, sendTime: Date | null = null) {
  return {
    id: newId(),
    tenant_id: tenantId,
    account_id: accountId,
    conversation_id: `c-${randomBytes(3).toString('hex')}`,
    message_type: 'text',
    content: '{}',
    status,
    send_time: sendTime,
    created_at: createdAt,
  };
}

describe('partition maintenance job', () => {
  test('creates months ahead and drops whole months past retention; plan retention deletes rows of short-plan tenants', async () => {
    const db = env.ctx.db;
    // Give messages a history: one partition per month for the last 20 months.
    await db.raw('ALTER TABLE messages REMOVE PARTITIONING');
    await db.raw(`ALTER TABLE messages ${partitionClause('created_at', partitionRange(NOW, 20, 0))}`);
    await db('tenants').where({ id: t1.tenantId }).update({ plan: 'basic' }); // 30 days
    const acc = newId();
    const rows = {
      expired: message(t2.tenantId, acc, monthsAgo(15), 'sent'),
      keptOld: message(t2.tenantId, acc, monthsAgo(6), 'sent'),
      basicOld: message(t1.tenantId, acc, new Date(NOW.getTime() - 40 * 86_400_000), 'sent'),
      basicRecent: message(t1.tenantId, acc, new Date(NOW.getTime() - 10 * 86_400_000), 'sent'),
      standardOld: message(t2.tenantId, acc, new Date(NOW.getTime() - 40 * 86_400_000), 'sent'),
    };
    await db('messages').insert(Object.values(rows));

    const res = await runJobOnce(env.ctx, partitionMaintenanceJob, NOW);
    expect(res.outcome).toBe('success');
    const result = (res as { result: Record<string, any> }).result;

    // Retention 12 months: months older than Nov 2025 go, whole.
    const names = (await listPartitions(db, 'messages')).map((p) => p.name);
    const oldestKept = monthPartition(monthsAgo(12)).name;
    expect(names.filter((n) => /^p\d{6}$/.test(n) && n < oldestKept)).toEqual([]);
    expect(names).toContain(oldestKept);
    expect(result.dropped.messages).toEqual(partitionRange(NOW, 20, 0).map((p) => p.name).filter((n) => n < oldestKept));
    // Months ahead were split out of p_max.
    const ahead = partitionRange(NOW, 0, env.config.partitions.monthsAhead).map((p) => p.name);
    for (const n of ahead) expect(names).toContain(n);
    expect(names[names.length - 1]).toBe('p_max');
    expect(result.created.messages).toEqual(ahead.slice(1));

    const left = await db('messages').whereIn('id', Object.values(rows).map((r) => r.id)).pluck('id');
    expect(left.sort()).toEqual([rows.keptOld.id, rows.basicRecent.id, rows.standardOld.id].sort());
    expect(result.plan_deleted_messages).toEqual({ basic: 1 });
    expect(result.plan_truncated_partitions).toEqual([]);

    // Idempotent: a second run (next tick) changes nothing.
    const again = await runJobOnce(env.ctx, partitionMaintenanceJob, new Date(NOW.getTime() + 1000));
    expect((again as { result: Record<string, unknown> }).result).toEqual({ created: {}, dropped: {}, plan_truncated_partitions: [], plan_deleted_messages: {} });
    await db('messages').whereIn('id', Object.values(rows).map((r) => r.id)).delete();
  });
});

describe('message statistics roll-up', () => {
  const accA = newId();
  const accB = newId();
  const h10 = new Date('2026-11-23T10:00:00Z');
  const h11 = new Date('2026-11-23T11:00:00Z');
  const at = (base: Date, min: number, sec = 0) => new Date(base.getTime() + min * 60_000 + sec * 1000);

  async function stats() {
    const rows = await env.ctx.db('message_statistics').whereIn('tenant_id', [t1.tenantId, t2.tenantId]).orderBy(['tenant_id', 'account_id', 'stat_hour']);
    return rows.map((r) => ({
      tenant: r.tenant_id === t1.tenantId ? 't1' : 't2',
      account: r.account_id === accA ? 'A' : 'B',
      date: r.stat_date instanceof Date ? r.stat_date.toISOString().slice(0, 10) : String(r.stat_date),
      hour: r.stat_hour,
      total: r.total_count,
      success: r.success_count,
      failed: r.failed_count,
      avg: r.avg_response_time === null ? null : Number(r.avg_response_time),
    }));
  }

  test('hourly numbers per tenant and account; re-running gives the same numbers; late changes replace values', async () => {
    const db = env.ctx.db;
    const m = [
      message(t1.tenantId, accA, at(h10, 1), 'sent', at(h10, 1, 2)), // 2 s
      message(t1.tenantId, accA, at(h10, 5), 'delivered', at(h10, 5, 4)), // 4 s
      message(t1.tenantId, accA, at(h10, 9), 'failed'),
      message(t1.tenantId, accA, at(h10, 20), 'pending'),
      message(t1.tenantId, accA, at(h10, 30), 'cancelled'),
      message(t1.tenantId, accB, at(h10, 59, 59), 'failed', at(h11, 0, 1)), // 2 s, still hour 10
      message(t1.tenantId, accA, at(h11, 0), 'sent', at(h11, 0, 6)), // 6 s
      message(t2.tenantId, accA, at(h10, 2), 'delivered', at(h10, 2, 1)), // same account id, other tenant
    ];
    await db('messages').insert(m);

    const first = await runJobOnce(env.ctx, messageStatsRollupJob, new Date('2026-11-23T11:40:00Z'));
    expect(first.outcome).toBe('success');
    const expected = [
      { tenant: 't1', account: 'A', date: '2026-11-23', hour: 10, total: 4, success: 2, failed: 1, avg: 3 },
      { tenant: 't1', account: 'A', date: '2026-11-23', hour: 11, total: 1, success: 1, failed: 0, avg: 6 },
      { tenant: 't1', account: 'B', date: '2026-11-23', hour: 10, total: 1, success: 0, failed: 1, avg: 2 },
      { tenant: 't2', account: 'A', date: '2026-11-23', hour: 10, total: 1, success: 1, failed: 0, avg: 1 },
    ];
    const sortRows = (r: Awaited<ReturnType<typeof stats>>) => [...r].sort((x, y) => `${x.tenant}${x.account}${x.hour}`.localeCompare(`${y.tenant}${y.account}${y.hour}`));
    expect(sortRows(await stats())).toEqual(expected);

    await runJobOnce(env.ctx, messageStatsRollupJob, new Date('2026-11-23T11:50:00Z'));
    expect(sortRows(await stats())).toEqual(expected);

    // A late receipt: the pending message is delivered; the next run replaces hour 10's numbers.
    await db('messages').where({ id: m[3].id }).update({ status: 'delivered', send_time: at(h10, 20, 8) });
    // And hour 11's only message disappears (e.g. deleted by plan retention): its row goes too.
    await db('messages').where({ id: m[6].id }).delete();
    await runJobOnce(env.ctx, messageStatsRollupJob, new Date('2026-11-23T12:00:00Z'));
    expect(sortRows(await stats())).toEqual([
      { ...expected[0], success: 3, avg: 4.667 },
      expected[2],
      expected[3],
    ]);
  });
});

describe('retention cleanup', () => {
  test('expired refresh tokens, old replay keys and old finished webhook deliveries go; live and revoked-but-unexpired tokens and pending deliveries stay', async () => {
    const db = env.ctx.db;
    const token = (expiresAt: Date, revokedAt: Date | null) => ({
      id: newId(),
      tenant_id: t1.tenantId,
      user_id: t1.adminId,
      family_id: newId(),
      token_hash: randomBytes(32).toString('hex'),
      expires_at: expiresAt,
      revoked_at: revokedAt,
    });
    const now = new Date();
    const expired = token(new Date(now.getTime() - 1000), null);
    const revokedLive = token(new Date(now.getTime() + 86_400_000), new Date());
    const live = token(new Date(now.getTime() + 86_400_000), null);
    await db('refresh_tokens').insert([expired, revokedLive, live]);
    await db('callback_event_keys').insert([
      { event_key: 'a'.repeat(64), callback_id: newId(), created_at: new Date(now.getTime() - 8 * 86_400_000) },
      { event_key: 'b'.repeat(64), callback_id: newId(), created_at: new Date(now.getTime() - 1 * 86_400_000) },
    ]);

    await db('cron_job_runs').insert([
      { job_name: 'old', tick_at: new Date(now.getTime() - 31 * 86_400_000), started_at: new Date(now.getTime() - 31 * 86_400_000), outcome: 'success', created_at: new Date(now.getTime() - 31 * 86_400_000) },
      { job_name: 'abandoned', tick_at: new Date(now.getTime() - 2 * 86_400_000), started_at: new Date(now.getTime() - 2 * 86_400_000), outcome: 'running', created_at: new Date(now.getTime() - 2 * 86_400_000) },
    ]);

    const delivery = (status: string, ageDays: number) => ({
      id: `msg_${randomBytes(8).toString('hex')}`,
      tenant_id: t1.tenantId,
      endpoint_id: newId(),
      event_type: 'message.sent',
      body: '{}',
      status,
      created_at: new Date(now.getTime() - ageDays * 86_400_000),
    });
    const oldDone = [delivery('succeeded', 15), delivery('failed', 20)];
    const oldPending = delivery('pending', 30);
    const recent = delivery('succeeded', 1);
    await db('webhook_deliveries').insert([...oldDone, oldPending, recent]);

    const res = await runJobOnce(env.ctx, retentionCleanupJob, now);
    expect(res.outcome).toBe('success');
    expect((res as { result: Record<string, number> }).result).toMatchObject({ refresh_tokens: 1, callback_event_keys: 1, webhook_deliveries: 2 });
    expect((await db('webhook_deliveries').where({ tenant_id: t1.tenantId }).pluck('id')).sort()).toEqual([oldPending.id, recent.id].sort());
    expect((await db('refresh_tokens').where({ user_id: t1.adminId }).pluck('id')).sort()).toEqual([revokedLive.id, live.id].sort());
    expect(await db('callback_event_keys').whereIn('event_key', ['a'.repeat(64), 'b'.repeat(64)]).pluck('event_key')).toEqual(['b'.repeat(64)]);
    expect((res as { result: Record<string, number> }).result).toMatchObject({ cron_runs_deleted: 1, cron_runs_abandoned: 1 });
    expect(await db('cron_job_runs').where({ job_name: 'old' }).first()).toBeUndefined();
    expect(await db('cron_job_runs').where({ job_name: 'abandoned' }).first()).toMatchObject({ outcome: 'failed', error: 'the cron process ended before the run finished' });
  });
});

describe('stuck-task detection', () => {
  test('a running task without progress is flagged once, keeping its status and updated_at; active tasks (row or counters moving) are left alone', async () => {
    const db = env.ctx.db;
    const task = (status: string, updatedAt: Date) => ({
      id: newId(),
      tenant_id: t1.tenantId,
      creator_id: t1.adminId,
      task_name: `t-${randomBytes(3).toString('hex')}`,
      account_id: newId(),
      message_content: '{}',
      target_type: 'manual',
      target_config: '{}',
      status,
      updated_at: updatedAt,
    });
    const now = new Date();
    const stale = new Date(now.getTime() - (env.config.stuckTaskMinutes + 5) * 60_000);
    const stuck = task('running', stale);
    const active = task('running', new Date(now.getTime() - 60_000));
    const paused = task('paused', stale);
    // Sending steadily: its row is old, but its counter shards moved a minute ago.
    const counting = task('running', stale);
    await db('batch_send_tasks').insert([stuck, active, paused, counting]);
    await db('task_counters').insert([
      { task_id: counting.id, shard: 3, sent: 5, success: 5, updated_at: new Date(now.getTime() - 60_000) },
      { task_id: stuck.id, shard: 1, sent: 2, success: 2, updated_at: stale },
    ]);

    const res = await runJobOnce(env.ctx, stuckTaskJob, now);
    expect((res as { result: unknown }).result).toEqual({ stalled: 1, newly_flagged: 1 });
    const rows = await db('batch_send_tasks').whereIn('id', [stuck.id, active.id, paused.id, counting.id]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(stuck.id)).toMatchObject({ status: 'running', error_message: `${STALL_PREFIX} ${stale.toISOString()}` });
    expect(byId.get(stuck.id).updated_at.getTime()).toBe(stale.getTime());
    expect(byId.get(active.id).error_message).toBeNull();
    expect(byId.get(paused.id).error_message).toBeNull();
    expect(byId.get(counting.id).error_message).toBeNull();

    const again = await runJobOnce(env.ctx, stuckTaskJob, new Date(now.getTime() + 1000));
    expect((again as { result: unknown }).result).toEqual({ stalled: 1, newly_flagged: 0 });
  });
});
