import { defaultCallbackHandlers } from '../../src/callbacks/handlers';
import { newId } from '../../src/db/ids';
import { taskCounts } from '../../src/db/task-counters';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { applyDeliveryReceipts, applyPendingReceipts } from '../../src/sending/receipts';
import { StatusWriter } from '../../src/sending/status-writer';
import { afterStatusFlush } from '../../src/sending/task-outcomes';
import { callback, insertAccount, postCallback, waitForEvent } from './support';

/** Delivery receipts end to end through the sending module's real receipt handler. */
let env: TestEnv;
let worker: RunningWorker;

beforeAll(async () => {
  env = await createTestEnv('cbreceipt', { api: true });
  worker = startCallbackProcessWorker(env.ctx, { handlers: defaultCallbackHandlers(), backoffBaseMs: 200, maxBackoffMs: 400 });
});
afterAll(async () => {
  await worker.close();
  await env.close();
});

async function sentMessage(tenantId: string, accountId: string, taskId: string, weworkMsgId: string | null, status = 'sent') {
  const id = newId();
  await env.ctx.db('messages').insert({
    id,
    tenant_id: tenantId,
    account_id: accountId,
    conversation_id: 'c1',
    message_type: 'text',
    content: JSON.stringify({ text: 'hi' }),
    status,
    wework_msg_id: weworkMsgId,
    batch_id: taskId,
    send_time: new Date(),
  });
  return id;
}

async function runningTask(t: { tenantId: string; adminId: string }, accountId: string, total: number): Promise<string> {
  const taskId = newId();
  await env.ctx.db('batch_send_tasks').insert({
    id: taskId,
    tenant_id: t.tenantId,
    creator_id: t.adminId,
    task_name: 'early receipts',
    account_id: accountId,
    message_content: JSON.stringify({ type: 'text', text: 'hi' }),
    target_type: 'manual',
    target_config: JSON.stringify({}),
    status: 'running',
    total_count: total,
  });
  return taskId;
}

test('receipts mark messages delivered/failed with callback_time and move the task counters, once: by message id, or by the gateway id without one', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const taskId = newId();
  await env.ctx.db('batch_send_tasks').insert({
    id: taskId,
    tenant_id: t.tenantId,
    creator_id: t.adminId,
    task_name: 'receipts',
    account_id: acct.id,
    message_content: JSON.stringify({ type: 'text', text: 'hi' }),
    target_type: 'manual',
    target_config: JSON.stringify({}),
    status: 'running',
    total_count: 2,
  });
  await env.ctx.db('task_counters').insert({ task_id: taskId, shard: 0, sent: 2, success: 2 });
  const m1 = await sentMessage(t.tenantId, acct.id, taskId, 'gw-a');
  const m2 = await sentMessage(t.tenantId, acct.id, taskId, 'gw-b');
  const at = Math.floor(Date.now() / 1000);
  const cb = callback(acct.guid, NOTIFY.messages, {
    messages: [
      { kind: 'receipt', msg_id: 'gw-a', client_msg_id: m1, status: 'delivered', at },
      // A gateway that does not name the message: matched among the account's sent messages.
      { kind: 'receipt', msg_id: 'gw-b', status: 'failed', error_code: 'blocked', error_message: 'user blocked', at },
    ],
  });
  const res = await postCallback(env, cb);
  expect((await postCallback(env, cb)).body.duplicate).toBe(true);
  const row = await waitForEvent(env, res.body.id, (r) => r.status === 'processed', 'processed');
  expect(row.tenant_id).toBe(t.tenantId);

  const msgs = await env.ctx.db('messages').whereIn('id', [m1, m2]).orderBy('wework_msg_id');
  expect(msgs.map((m: { status: string }) => m.status)).toEqual(['delivered', 'failed']);
  expect(msgs[0].callback_time.getTime()).toBe(at * 1000);
  expect(msgs[1]).toMatchObject({ error_code: 'blocked', error_message: 'user blocked' });
  expect(await taskCounts(env.ctx.db, taskId)).toMatchObject({ delivered: 1, success: 1, failed: 1 });
});

test('a receipt that overtakes the sender is kept (the event is processed at once) and applied when the status write lands, once', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const taskId = await runningTask(t, acct.id, 1);
  // The message is still being sent: no wework_msg_id yet.
  const msgId = await sentMessage(t.tenantId, acct.id, taskId, null, 'sending');
  const receipt = { kind: 'receipt', msg_id: 'gw-late', client_msg_id: msgId, status: 'delivered', at: Math.floor(Date.now() / 1000) };
  const res = await postCallback(env, callback(acct.guid, NOTIFY.messages, { messages: [receipt] }));
  const row = await waitForEvent(env, res.body.id, (r) => r.status !== 'received' && r.status !== 'processing', 'the receipt event handled');
  expect(row).toMatchObject({ status: 'processed', retry_count: 0 });
  expect(await env.ctx.db('pending_receipts').where({ account_id: acct.id })).toEqual([expect.objectContaining({ message_id: msgId, wework_msg_id: 'gw-late', status: 'delivered' })]);
  expect((await env.ctx.db('messages').where({ id: msgId }).first()).status).toBe('sending');

  // The sender's status write lands (however late: here after the callback's retries would have run out).
  const m = await env.ctx.db('messages').where({ id: msgId }).first();
  const writer = new StatusWriter(env.ctx.db, env.ctx.logger, (flushed) => afterStatusFlush(env.ctx, flushed), { maxBatch: 10, maxDelayMs: 1 });
  await writer.record({ id: msgId, createdAt: m.created_at, taskId, tenantId: t.tenantId, outcome: { kind: 'sent', gatewayMessageId: 'gw-late' } });
  await writer.close();
  expect((await env.ctx.db('messages').where({ id: msgId }).first()).status).toBe('delivered');
  expect(await env.ctx.db('pending_receipts').where({ account_id: acct.id })).toEqual([]);
  expect(await taskCounts(env.ctx.db, taskId)).toMatchObject({ sent: 1, success: 1, delivered: 1 });

  // The gateway repeats the receipt (a new event): nothing moves twice.
  const again = await postCallback(env, callback(acct.guid, NOTIFY.messages, { messages: [receipt] }));
  await waitForEvent(env, again.body.id, (r) => r.status === 'processed', 'the repeated receipt processed');
  expect(await taskCounts(env.ctx.db, taskId)).toMatchObject({ sent: 1, success: 1, delivered: 1 });
  expect(await env.ctx.db('pending_receipts').where({ account_id: acct.id })).toEqual([]);
});

test('kept receipts applied by two appliers at once count once', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const taskId = await runningTask(t, acct.id, 20);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push(await sentMessage(t.tenantId, acct.id, taskId, null, 'sending'));
  const at = Math.floor(Date.now() / 1000);
  const receipts = ids.map((id, i) => ({ kind: 'receipt' as const, msg_id: `gw-race-${i}`, client_msg_id: id, status: 'delivered' as const, at }));
  expect(await applyDeliveryReceipts(env.ctx, acct.guid, receipts)).toMatchObject({ delivered: 0, kept: 20 });
  // The status write commits without its hook (a worker killed right after the commit).
  for (let i = 0; i < ids.length; i++) await env.ctx.db('messages').where({ id: ids[i] }).update({ status: 'sent', wework_msg_id: `gw-race-${i}` });
  await env.ctx.db('task_counters').insert({ task_id: taskId, shard: 0, sent: 20, success: 20 });
  const [a, b, c] = await Promise.all([
    applyPendingReceipts(env.ctx, { messageIds: ids }),
    applyPendingReceipts(env.ctx, { accountId: acct.id }),
    applyPendingReceipts(env.ctx),
  ]);
  expect(a.delivered + b.delivered + c.delivered).toBe(20);
  expect(await taskCounts(env.ctx.db, taskId)).toMatchObject({ sent: 20, success: 20, delivered: 20 });
  expect(await env.ctx.db('messages').whereIn('id', ids).where({ status: 'delivered' }).count({ n: '*' }).first()).toEqual({ n: 20 });
  expect(await env.ctx.db('pending_receipts').where({ account_id: acct.id })).toEqual([]);
});

test('a status flush looks for kept receipts only while its tenant has some: no pending_receipts query otherwise', async () => {
  const quiet = await createTenant(env);
  const busy = await createTenant(env);
  const quietAcct = await insertAccount(env, quiet.tenantId);
  const busyAcct = await insertAccount(env, busy.tenantId);
  const quietTask = await runningTask(quiet, quietAcct.id, 1);
  const busyTask = await runningTask(busy, busyAcct.id, 1);
  const quietMsg = await sentMessage(quiet.tenantId, quietAcct.id, quietTask, null, 'sending');
  const busyMsg = await sentMessage(busy.tenantId, busyAcct.id, busyTask, null, 'sending');
  // Only the busy tenant keeps a receipt (its message is still being sent).
  const kept = await applyDeliveryReceipts(env.ctx, busyAcct.guid, [{ kind: 'receipt', msg_id: 'gw-busy', client_msg_id: busyMsg, status: 'delivered', at: Date.now() }]);
  expect(kept.kept).toBe(1);

  const statements: string[] = [];
  const onQuery = (q: { sql: string }) => statements.push(q.sql);
  env.ctx.db.on('query', onQuery);
  try {
    const created = async (id: string) => (await env.ctx.db('messages').where({ id }).first()).created_at as Date;
    // A writer each: close() returns once the flush and its after-flush hook are done.
    const quietWriter = new StatusWriter(env.ctx.db, env.ctx.logger, (flushed) => afterStatusFlush(env.ctx, flushed), { maxBatch: 10, maxDelayMs: 1 });
    await quietWriter.record({ id: quietMsg, createdAt: await created(quietMsg), taskId: quietTask, tenantId: quiet.tenantId, outcome: { kind: 'sent', gatewayMessageId: 'gw-quiet' } });
    await quietWriter.close();
    const quietLooks = statements.filter((s) => s.includes('pending_receipts')).length;
    const busyWriter = new StatusWriter(env.ctx.db, env.ctx.logger, (flushed) => afterStatusFlush(env.ctx, flushed), { maxBatch: 10, maxDelayMs: 1 });
    await busyWriter.record({ id: busyMsg, createdAt: await created(busyMsg), taskId: busyTask, tenantId: busy.tenantId, outcome: { kind: 'sent', gatewayMessageId: 'gw-busy' } });
    await busyWriter.close();
    expect(quietLooks).toBe(0);
    expect(statements.filter((s) => s.includes('pending_receipts')).length).toBeGreaterThan(0);
  } finally {
    env.ctx.db.off('query', onQuery);
  }
  // The busy tenant's kept receipt was applied by its flush.
  expect((await env.ctx.db('messages').where({ id: busyMsg }).first()).status).toBe('delivered');
  expect((await env.ctx.db('messages').where({ id: quietMsg }).first()).status).toBe('sent');
});

test('a receipt naming another account\'s message, or no message, is ignored and not kept; one without the key is never kept', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const other = await insertAccount(env, t.tenantId);
  const taskId = await runningTask(t, acct.id, 2);
  const sent = await sentMessage(t.tenantId, acct.id, taskId, 'gw-own');
  const sending = await sentMessage(t.tenantId, acct.id, taskId, null, 'sending');
  const at = Date.now();
  // The other account's gateway names this account's messages: nothing moves, nothing is kept.
  expect(
    await applyDeliveryReceipts(env.ctx, other.guid, [
      { kind: 'receipt', msg_id: 'gw-own', client_msg_id: sent, status: 'delivered', at },
      { kind: 'receipt', msg_id: 'gw-x', client_msg_id: sending, status: 'delivered', at },
      { kind: 'receipt', msg_id: 'gw-own', status: 'delivered', at },
    ]),
  ).toEqual({ delivered: 0, failed: 0, ignored: 3, kept: 0 });
  // A stray id of the right account, and a receipt without the key for a message not yet recorded.
  expect(
    await applyDeliveryReceipts(env.ctx, acct.guid, [
      { kind: 'receipt', msg_id: 'gw-stray', client_msg_id: newId(), status: 'delivered', at },
      { kind: 'receipt', msg_id: 'gw-unrecorded', status: 'delivered', at },
    ]),
  ).toEqual({ delivered: 0, failed: 0, ignored: 2, kept: 0 });
  expect(await env.ctx.db('pending_receipts').whereIn('account_id', [acct.id, other.id])).toEqual([]);
  expect((await env.ctx.db('messages').whereIn('id', [sent, sending]).orderBy('status')).map((m: { status: string }) => m.status)).toEqual(['sending', 'sent']);
});

test('a receipt finds its message even when the row was stamped far from the time its id carries', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  const taskId = await runningTask(t, acct.id, 1);
  const id = await sentMessage(t.tenantId, acct.id, taskId, 'gw-far');
  // The lookup first bounds created_at by the id's time; a row outside that bound is found by the id alone.
  await env.ctx.db('messages').where({ id }).update({ created_at: new Date(Date.now() - 40 * 24 * 3600_000) });
  expect(await applyDeliveryReceipts(env.ctx, acct.guid, [{ kind: 'receipt', msg_id: 'gw-far', client_msg_id: id, status: 'delivered', at: Date.now() }])).toEqual({
    delivered: 1,
    failed: 0,
    ignored: 0,
    kept: 0,
  });
});
