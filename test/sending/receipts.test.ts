import { applyDeliveryReceipts } from '../../src/sending/receipts';
import type { RunningWorker } from '../../workers';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { createSendingEnv, onlineAccount, startWorkers, stopWorkers, taskApi, targets, type SendingEnv } from './helpers';

let env: SendingEnv;
let t: TestTenant;
let workers: RunningWorker[];
beforeAll(async () => {
  env = await createSendingEnv('receipts');
  t = await createTenant(env);
  workers = startWorkers(env);
});
afterAll(async () => {
  await stopWorkers(workers);
  await env.close();
});

const api = (p: string) => `${env.url}/api/v1${p}`;

test('receipts mark sent messages delivered or failed, idempotently, with exact task counters', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const created = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: { name: 'r', account_ids: [a.id], content: { type: 'text', text: 'x' }, target_type: 'manual', targets: targets(4), send_strategy: { rate_per_minute: 0 } },
  });
  const id = created.body.id;
  await http('POST', api(`/tasks/${id}/start`), { token: t.adminToken });
  await taskApi(env, t).waitForStatus(id, 'completed');
  const rows = await env.ctx.db('messages').where({ batch_id: id }).orderBy('conversation_id');
  const at = Date.now();
  const receipts = [
    { kind: 'receipt' as const, msg_id: rows[0].wework_msg_id, client_msg_id: rows[0].id, status: 'delivered' as const, at },
    { kind: 'receipt' as const, msg_id: rows[1].wework_msg_id, client_msg_id: rows[1].id, status: 'delivered' as const, at },
    { kind: 'receipt' as const, msg_id: rows[2].wework_msg_id, client_msg_id: rows[2].id, status: 'failed' as const, error_code: 'blocked', error_message: 'user blocked you', at },
  ];
  expect(await applyDeliveryReceipts(env.ctx, a.guid, receipts)).toEqual({ delivered: 2, failed: 1, ignored: 0, kept: 0 });
  // The same receipts again (a redelivered callback) change nothing.
  expect(await applyDeliveryReceipts(env.ctx, a.guid, receipts)).toEqual({ delivered: 0, failed: 0, ignored: 3, kept: 0 });
  const task = (await http('GET', api(`/tasks/${id}`), { token: t.adminToken })).body;
  expect(task).toMatchObject({ total_count: 4, sent_count: 4, success_count: 3, failed_count: 1, delivered_count: 2 });
  const after = await env.ctx.db('messages').where({ batch_id: id }).orderBy('conversation_id');
  expect(after.map((m: any) => m.status)).toEqual(['delivered', 'delivered', 'failed', 'sent']);
  expect(after[0].callback_time).toBeTruthy();
  expect(after[2]).toMatchObject({ error_code: 'blocked', error_message: 'user blocked you' });

  // Another account's guid cannot touch these messages, by their id or by the gateway's.
  const other = await onlineAccount(env, t.tenantId);
  const foreign = [
    { kind: 'receipt' as const, msg_id: rows[3].wework_msg_id, client_msg_id: rows[3].id, status: 'delivered' as const, at },
    { kind: 'receipt' as const, msg_id: rows[3].wework_msg_id, status: 'delivered' as const, at },
  ];
  expect(await applyDeliveryReceipts(env.ctx, other.guid, foreign)).toEqual({ delivered: 0, failed: 0, ignored: 2, kept: 0 });
  expect((await env.ctx.db('messages').where({ id: rows[3].id }).first()).status).toBe('sent');
  expect(await env.ctx.db('pending_receipts').where({ account_id: other.id })).toHaveLength(0);
  expect(await applyDeliveryReceipts(env.ctx, 'no-such-guid', receipts)).toEqual({ delivered: 0, failed: 0, ignored: 3, kept: 0 });
});
