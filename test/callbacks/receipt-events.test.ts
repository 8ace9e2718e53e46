import { defaultCallbackHandlers } from '../../src/callbacks/handlers';
import { newId } from '../../src/db/ids';
import { taskCounts } from '../../src/db/task-counters';
import { NOTIFY } from '../../src/gateway/callback-protocol';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
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

test('receipts mark messages delivered/failed with callback_time and move the task counters, once', async () => {
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
      { kind: 'receipt', msg_id: 'gw-a', status: 'delivered', at },
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

test('a receipt that overtakes the sender is retried until its message is known, then applied', async () => {
  const t = await createTenant(env);
  const acct = await insertAccount(env, t.tenantId);
  // The message is still being sent: no wework_msg_id yet.
  const msgId = await sentMessage(t.tenantId, acct.id, newId(), null, 'sending');
  const res = await postCallback(env, callback(acct.guid, NOTIFY.messages, { messages: [{ kind: 'receipt', msg_id: 'gw-late', status: 'delivered', at: Math.floor(Date.now() / 1000) }] }));
  const failedOnce = await waitForEvent(env, res.body.id, (r) => r.retry_count >= 1, 'a first failed try');
  expect(failedOnce.error_message).toMatch(/match no sent message/);
  // The sender's status write lands.
  await env.ctx.db('messages').where({ id: msgId }).update({ status: 'sent', wework_msg_id: 'gw-late' });
  await waitForEvent(env, res.body.id, (r) => r.status === 'processed', 'processed once the message is known');
  expect((await env.ctx.db('messages').where({ id: msgId }).first()).status).toBe('delivered');
});
