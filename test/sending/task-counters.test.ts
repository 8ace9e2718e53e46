/**
 * Sharded task counters (src/db/task-counters.ts) and the per-tenant lanes of the status writer: counts
 * stay exact under concurrent writers (several writers standing in for processes, duplicate results,
 * rolled-back transactions), and one tenant's stuck flush does not hold another tenant's results.
 */
import { withDeadlockRetry } from '../../src/db/deadlock-retry';
import { newId } from '../../src/db/ids';
import { addTaskCounts, SHARDS, taskCounts, taskCountsOf } from '../../src/db/task-counters';
import type { SendOutcome, SendResult } from '../../src/sending/send-outcome';
import { StatusWriter } from '../../src/sending/status-writer';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { waitForLockWait } from '../helpers/lock-wait';

let env: TestEnv;
let a: TestTenant;
let b: TestTenant;

beforeAll(async () => {
  env = await createTestEnv('taskcounters');
  a = await createTenant(env);
  b = await createTenant(env);
});
afterAll(async () => {
  await env?.close();
});

async function taskWithSendingMessages(tenant: TestTenant, n: number): Promise<{ taskId: string; rows: Array<{ id: string; created_at: Date }> }> {
  const taskId = newId();
  const accountId = newId();
  await env.ctx.db('batch_send_tasks').insert({
    id: taskId, tenant_id: tenant.tenantId, creator_id: tenant.adminId, task_name: 'counters', account_id: accountId,
    message_content: '{}', target_type: 'manual', target_config: '{}', status: 'running', total_count: n,
  });
  const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  const rows = Array.from({ length: n }, () => ({ id: newId(), created_at: createdAt }));
  for (let i = 0; i < rows.length; i += 500) {
    await env.ctx.db('messages').insert(
      rows.slice(i, i + 500).map((r, j) => ({
        id: r.id, created_at: r.created_at, tenant_id: tenant.tenantId, account_id: accountId, batch_id: taskId,
        conversation_id: `c-${i + j}`, message_type: 'text', content: '{}', status: 'sending',
      })),
    );
  }
  return { taskId, rows };
}

const sentResult = (m: { id: string; created_at: Date }, taskId: string, tenantId: string): SendResult => ({
  id: m.id, createdAt: m.created_at, taskId, tenantId, outcome: { kind: 'sent', gatewayMessageId: `gw-${m.id}` },
});

/** Lets the held row lock go, then checks that every one of the task's `n` results was written and counted once. */
async function releaseAndExpectWritten(holder: { rollback(): Promise<unknown> }, writes: Promise<unknown>, taskId: string, n: number, writer: StatusWriter): Promise<void> {
  await holder.rollback();
  await writes;
  expect(await statusCounts(taskId)).toEqual({ sent: n });
  expect((await taskCounts(env.ctx.db, taskId)).success).toBe(n);
  await writer.close();
}

const statusCounts = async (taskId: string) =>
  Object.fromEntries(
    (await env.ctx.db('messages').select('status').count({ n: '*' }).where({ batch_id: taskId }).groupBy('status')).map((r: any) => [r.status, Number(r.n)]),
  );

test('concurrent counter transactions, some rolled back, sum to exactly what committed', async () => {
  const taskId = newId();
  let committed = 0;
  // Like the real writers: one shard per transaction, deadlock victims re-run.
  await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const commit = i % 3 !== 0;
      await withDeadlockRetry(() =>
        env.ctx.db.transaction(async (trx) => {
          await addTaskCounts(trx, taskId, { sent: 3, success: 2, failed: 1, cancelled: 1 }, i % 2 ? undefined : i); // random, or a chosen shard wrapped into range
          if (!commit) throw new Error('rolled back');
        }),
      ).then(() => (committed += 1), (err: Error) => expect(err.message).toBe('rolled back'));
    }),
  );
  expect(committed).toBe(26);
  expect(await taskCounts(env.ctx.db, taskId)).toEqual({ sent: 78, success: 52, failed: 26, unknown: 0, cancelled: 26, delivered: 0, capped: 0, risk_paused: 0 });
  const shards = await env.ctx.db('task_counters').where({ task_id: taskId }).pluck('shard');
  expect(Math.max(...shards)).toBeLessThan(SHARDS);
  expect(shards.length).toBeGreaterThan(1); // spread, not one hot row
  // Reading many tasks at once: an unknown task counts zero.
  const many = await taskCountsOf(env.ctx.db, [taskId, newId()]);
  expect([...many.values()].map((c) => c.sent)).toEqual([78, 0]);
});

test('several status writers (processes) writing one task at once, with duplicate results, count each message once', async () => {
  const { taskId, rows } = await taskWithSendingMessages(a, 1200);
  const outcomeOf = (i: number): SendOutcome =>
    i % 10 === 0 ? { kind: 'failed', errorCode: 'bad', errorMessage: 'refused' } : i % 17 === 0 ? { kind: 'unknown', errorCode: 'timeout', errorMessage: 'no answer' } : i % 23 === 0 ? { kind: 'cancelled' } : i % 29 === 0 ? { kind: 'skipped', reason: 'frequency_capped', message: 'capped' } : { kind: 'sent', gatewayMessageId: `gw-${i}` };
  const result = (i: number): SendResult => ({ id: rows[i].id, createdAt: rows[i].created_at, taskId, tenantId: a.tenantId, outcome: outcomeOf(i) });
  const writers = Array.from({ length: 4 }, () => new StatusWriter(env.ctx.db, env.ctx.logger, async () => undefined, { maxBatch: 50, maxDelayMs: 2 }));
  // Each result goes to one writer, and a third of them a second time to another writer (a re-sent orphan).
  await Promise.all(
    rows.flatMap((_, i) => [writers[i % 4].record(result(i)), ...(i % 3 === 0 ? [writers[(i + 1) % 4].record(result(i))] : [])]),
  );
  await Promise.all(writers.map((w) => w.close()));
  const byStatus = await statusCounts(taskId);
  expect(byStatus.sending).toBeUndefined();
  expect(await taskCounts(env.ctx.db, taskId)).toEqual({
    sent: (byStatus.sent ?? 0) + (byStatus.failed ?? 0) + (byStatus.unknown ?? 0),
    success: byStatus.sent,
    failed: byStatus.failed,
    unknown: byStatus.unknown,
    cancelled: byStatus.cancelled,
    delivered: 0,
    capped: byStatus.skipped,
    risk_paused: 0,
  });
  expect(byStatus.failed).toBe(120);
  expect(byStatus.skipped).toBeGreaterThan(0);
});

test("lanes: a tenant's results are written while another tenant's flush is stuck on a row lock", async () => {
  const big = await taskWithSendingMessages(a, 3);
  const small = await taskWithSendingMessages(b, 2);
  const writer = new StatusWriter(env.ctx.db, env.ctx.logger, async () => undefined, { maxBatch: 100, maxDelayMs: 2 });

  // Hold a row lock on one of A's messages: A's flush waits on it inside its transaction.
  const holder = await env.ctx.db.transaction();
  await holder('messages').where({ id: big.rows[0].id }).forUpdate().first();
  let aWritten = false;
  const aDone = Promise.all(big.rows.map((m) => writer.record(sentResult(m, big.taskId, a.tenantId)))).then(() => (aWritten = true));
  // Barrier: A's UPDATE is seen waiting for the lock (the held lock is released if it never is).
  await waitForLockWait(env.ctx.db, "A's flush to wait on the held row lock", {
    database: env.config.db.database,
    queryContains: ['UPDATE messages', big.rows[0].id],
  }).catch(async (error) => {
    await holder.rollback();
    throw error;
  });
  // B's results go through while A's transaction is stuck.
  await Promise.all(small.rows.map((m) => writer.record(sentResult(m, small.taskId, b.tenantId))));
  expect(await statusCounts(small.taskId)).toEqual({ sent: 2 });
  expect((await taskCounts(env.ctx.db, small.taskId)).success).toBe(2);
  expect(aWritten).toBe(false);
  expect(await statusCounts(big.taskId)).toEqual({ sending: 3 });

  await releaseAndExpectWritten(holder, aDone, big.taskId, 3, writer);
});

test('a lane keeps at most one flush waiting behind a stuck one, however many results arrive meanwhile, and writes them all', async () => {
  const task = await taskWithSendingMessages(a, 3_001);
  const writer = new StatusWriter(env.ctx.db, env.ctx.logger, async () => undefined, { maxBatch: 100, maxDelayMs: 2 });
  const sent = (m: { id: string; created_at: Date }) => sentResult(m, task.taskId, a.tenantId);
  const [first, ...rest] = task.rows;

  const holder = await env.ctx.db.transaction();
  await holder('messages').where({ id: first.id }).forUpdate().first();
  const done: Array<Promise<void>> = [writer.record(sent(first))];
  await waitForLockWait(env.ctx.db, 'the first flush to wait on the held row lock', {
    database: env.config.db.database,
    queryContains: ['UPDATE messages', first.id],
  }).catch(async (error) => {
    await holder.rollback();
    throw error;
  });
  // 3,000 results (30 batches) arrive while that flush is stuck, as a sender's do while MySQL is slow.
  for (const m of rest) done.push(writer.record(sent(m)));
  // The stuck flush and one waiting behind it: not one chained flush per result past a full batch.
  expect(writer.flushesInFlight).toBeLessThanOrEqual(2);
  expect(writer.pending).toBe(3_000);

  await releaseAndExpectWritten(holder, Promise.all(done), task.taskId, 3_001, writer);
});

test('results beyond a batch that arrive during a flush are written by their own timer, with nothing else arriving', async () => {
  const task = await taskWithSendingMessages(b, 250);
  const writer = new StatusWriter(env.ctx.db, env.ctx.logger, async () => undefined, { maxBatch: 100, maxDelayMs: 2 });
  // 250 at once: a full batch kicks a flush, the rest (two batches' worth and a half) wait for it; none may be left behind.
  await Promise.all(task.rows.map((m) => writer.record(sentResult(m, task.taskId, b.tenantId))));
  expect(await statusCounts(task.taskId)).toEqual({ sent: 250 });
  expect(writer.flushesInFlight).toBe(0);
  await writer.close();
});
