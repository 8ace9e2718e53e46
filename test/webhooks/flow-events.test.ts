import { Webhook } from 'standardwebhooks';
import { transitionAccount } from '../../src/db/accounts';
import { applyDeliveryReceipts } from '../../src/sending/receipts';
import { startWebhookDeliverWorker } from '../../workers/webhook-deliver.worker';
import type { RunningWorker } from '../../workers';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { onlineAccount, sendingSuite, targets } from '../sending/helpers';
import { startReceiver, type Receiver } from './receiver';

/**
 * The platform's own flows publish webhook events: a real task through the simulator (message.sent,
 * task.status, task.completed with its summary), delivery receipts (message.delivered/failed) and an
 * account transition (account.status), each verified with standardwebhooks at a real receiver.
 */
// Quick retries: this file is about which events the flows publish, not about backoff (a first attempt
// lost on a loaded CI machine waited the default 10 s base and missed the 20 s wait).
const s = sendingSuite('webhookflows', { env: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32', WEBHOOK_RETRY_BASE_MS: '500' } });
let receiver: Receiver;
let worker: RunningWorker;
beforeAll(async () => {
  receiver = await startReceiver();
  worker = startWebhookDeliverWorker(s.env.ctx, { idleMs: 50 });
});
afterAll(async () => {
  await worker?.close();
  await receiver?.close();
});

type Event = { type: string; timestamp: string; data: Record<string, any> };

test('a campaign, its receipts and an account transition reach the endpoint as signed events', async () => {
  const created = await http('POST', `${s.env.url}/api/v1/webhooks`, { token: s.tenant.adminToken, body: { name: 'crm', url: `${receiver.url}/crm` } });
  expect(created.status).toBe(201);
  const wh = new Webhook(created.body.secret);
  const events = () => receiver.received.filter((r) => r.path === '/crm').map((r) => wh.verify(r.body, r.headers as Record<string, string>) as Event);

  const account = await onlineAccount(s.env, s.tenant.tenantId);
  const id = await s.tasks.create({ account_ids: [account.id], targets: targets(5) });
  await s.tasks.start(id);
  await s.tasks.waitForStatus(id, 'completed');
  const rows = await s.env.ctx.db('messages').where({ batch_id: id }).orderBy('conversation_id');
  const at = Date.now();
  await applyDeliveryReceipts(s.env.ctx, account.guid, [
    { kind: 'receipt', msg_id: rows[0].wework_msg_id, client_msg_id: rows[0].id, status: 'delivered', at },
    { kind: 'receipt', msg_id: rows[1].wework_msg_id, client_msg_id: rows[1].id, status: 'failed', error_code: 'blocked', error_message: 'user blocked you', at },
  ]);
  await transitionAccount(s.env.ctx, { accountId: account.id, to: 'offline', reason: 'test logout', operatorType: 'system' });

  const got = await waitFor(events, 'every event at /crm', { until: (e) => e.length >= 11, timeoutMs: 40_000 });
  const ofType = (t: string) => got.filter((e) => e.type === t);
  expect(ofType('message.sent').map((e) => e.data.message_id).sort()).toEqual(rows.map((r: { id: string }) => r.id).sort());
  expect(ofType('message.delivered').map((e) => e.data.message_id)).toEqual([rows[0].id]);
  expect(ofType('message.failed')).toEqual([expect.objectContaining({ data: expect.objectContaining({ message_id: rows[1].id, error_code: 'blocked' }) })]);
  expect(ofType('task.status').map((e) => e.data.status)).toEqual(expect.arrayContaining(['running', 'completed']));
  const [completed] = ofType('task.completed');
  expect(completed.data).toMatchObject({ task_id: id, status: 'completed', summary: { total: 5, sent: 5, success: 5 } });
  expect(ofType('account.status')).toEqual([expect.objectContaining({ data: expect.objectContaining({ account_id: account.id, old_status: 'online', new_status: 'offline' }) })]);
  for (const e of got) expect(Date.parse(e.timestamp)).toBeGreaterThan(0);
});
