/**
 * MariaDB killed (SIGKILL) and restarted under the sending pipeline, on a private MariaDB of this file:
 * the status writer keeps what it could not write, and a worker process lives through the outage.
 */
import { PrivateMariaDb } from '../../scripts/chaos/private-services';
import { taskCounts } from '../../src/db/task-counters';
import { expandTask } from '../../src/sending/expand';
import type { SendResult } from '../../src/sending/send-outcome';
import { keys as sendKeys } from '../../src/sending/redis-scripts';
import { StatusWriter } from '../../src/sending/status-writer';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { spawnRole, type SpawnedRole } from '../helpers/processes';
import { sleep, waitFor } from '../helpers/wait';
import { UNHANDLED_REJECTION_EVENT } from '../../src/unhandled-rejections';
import { createSendingEnv, onlineAccount, targets, type SendingEnv } from '../sending/helpers';

let mdb: PrivateMariaDb;
let env: SendingEnv;
let t: TestTenant;
let worker: SpawnedRole | undefined;

beforeAll(async () => {
  mdb = await PrivateMariaDb.create();
  env = await createSendingEnv('mysqlrestart', { DB_PORT: String(mdb.port) });
  t = await createTenant(env);
}, 120_000);

afterAll(async () => {
  await worker?.kill();
  await env?.close().catch(() => undefined);
  await mdb?.destroy();
}, 60_000);

const api = (p: string) => `${env.url}/api/v1${p}`;
const count = async (q: Promise<Array<{ n: number | string }>>) => Number((await q)[0].n);

async function createTask(accountIds: string[], total: number): Promise<string> {
  const res = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: { name: 'outage', account_ids: accountIds, content: { type: 'text', text: 'hi' }, target_type: 'manual', targets: targets(total), send_strategy: { rate_per_minute: 0 } },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Where a task that did not finish stands: message statuses, the task's counters, the sender's Redis keys. */
async function stuckState(taskId: string, accountIds: string[]): Promise<string> {
  const byStatus = await env.ctx.db('messages').where({ batch_id: taskId }).select('account_id', 'status').count({ n: '*' }).groupBy('account_id', 'status');
  const task = await env.ctx.db('batch_send_tasks').where({ id: taskId }).first();
  const keys = await Promise.all(
    accountIds.flatMap((a) => [sendKeys.accountLock(env.config.redis, a), sendKeys.sleep(env.config.redis, a)]).map(async (k) => `${k}=${await env.ctx.redis.get(k)} pttl ${await env.ctx.redis.pttl(k)}`),
  );
  return JSON.stringify({ byStatus, task, counts: await taskCounts(env.ctx.db, taskId), keys, ledger: env.sim.control.ledger.summary() });
}

test('the status writer keeps the results of flushes that fail while MariaDB is down, writes them once it is back, and counts each once', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const total = 300;
  const id = await createTask([a.id], total);
  // Expanded by hand and claimed (sending), as a sender would have done before the outage.
  await env.ctx.db('batch_send_tasks').where({ id }).update({ status: 'paused', start_time: new Date() });
  expect(await expandTask(env.ctx, id)).toBe('done');
  await env.ctx.db('messages').where({ batch_id: id }).update({ status: 'sending' });
  const rows: Array<{ id: string; created_at: Date }> = await env.ctx.db('messages').select('id', 'created_at').where({ batch_id: id });
  const results: SendResult[] = rows.map((r) => ({ id: r.id, createdAt: r.created_at, taskId: id, tenantId: t.tenantId, outcome: { kind: 'sent', gatewayMessageId: `gw-${r.id}` } }));
  const writer = new StatusWriter(env.ctx.db, env.ctx.logger, async () => undefined, { maxBatch: 100, maxDelayMs: 5, retryDelayMs: 50, maxRetryDelayMs: 200 });

  await mdb.kill9();
  const settled = results.map((r) => writer.record(r).then(() => 'written', (err: Error) => `rejected: ${err.message}`));
  await waitFor(() => writer.failedFlushes >= 3, 'flushes failing while MariaDB is down');
  expect(writer.pending).toBe(total); // kept, none dropped
  await mdb.start();

  expect(new Set(await Promise.all(settled))).toEqual(new Set(['written']));
  expect(await taskCounts(env.ctx.db, id)).toMatchObject({ sent: total, success: total, failed: 0 });
  expect(await count(env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).count({ n: '*' }))).toBe(total);

  // The same results again (a retried batch whose commit had in fact landed): nothing moves twice.
  await Promise.all(results.slice(0, 100).map((r) => writer.record(r)));
  expect(await taskCounts(env.ctx.db, id)).toMatchObject({ sent: total, success: total });
  await writer.close();
}, 120_000);

test('a worker process lives through kill -9 of MariaDB mid-task: the task completes with nothing lost, nothing sent twice, counters exact', async () => {
  env.sim.control.reset({ latency_ms: 3 });
  const a1 = await onlineAccount(env, t.tenantId);
  const a2 = await onlineAccount(env, t.tenantId);
  const total = 3000;
  const id = await createTask([a1.id, a2.id], total);

  worker = spawnRole({
    role: 'worker',
    config: env.config,
    env: { LOG_LEVEL: 'info', DB_PORT: String(mdb.port), SIMULATOR_PORT: String(new URL(env.sim.url).port) },
  });
  // Counted from the first line on (the helper keeps only the tail of the output).
  let unhandled = 0;
  let partial = '';
  worker.child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    unhandled += lines.filter((l) => l.includes(`"event":"${UNHANDLED_REJECTION_EVENT}"`)).length;
  });
  await worker.waitForOutput(/workers started/, 'worker start-up', 60_000);
  expect((await http('POST', api(`/tasks/${id}/start`), { token: t.adminToken })).status).toBe(200);
  await waitFor(() => env.sim.control.ledger.summary().unique_keys >= 500, 'sends under way', 60_000);

  await mdb.kill9();
  await sleep(2_000); // the outage: claims and status flushes fail meanwhile
  expect(worker.exit).toBeUndefined();
  await mdb.start();

  const done = await waitFor(() => env.ctx.db('batch_send_tasks').where({ id }).first(), 'task completion after the restart', {
    timeoutMs: 120_000,
    until: (row) => row?.status === 'completed',
  }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await stuckState(id, [a1.id, a2.id])}\nworker output:\n${worker?.output().slice(-6000)}`);
  });
  expect(worker.exit).toBeUndefined();
  expect(unhandled).toBe(0);
  expect(done).toMatchObject({ total_count: total });
  expect(await taskCounts(env.ctx.db, id)).toMatchObject({ sent: total, success: total, failed: 0 });
  const ledger = env.sim.control.ledger.summary();
  expect(ledger.unique_keys).toBe(total); // 0 lost
  expect(ledger.duplicate_deliveries).toBe(0); // 0 sent twice
  expect(await count(env.ctx.db('messages').where({ batch_id: id, status: 'sent' }).count({ n: '*' }))).toBe(total);
}, 240_000);
