import type { AppContext } from '../../src/context';
import type { CallbackHandlers } from '../../src/callbacks/handlers';
import { eventKey } from '../../src/callbacks/ingest';
import { enqueueCallbackBatch } from '../../src/callbacks/queue';
import { processCallbackEvent } from '../../src/callbacks/process-event';
import { insertCallbackEvents } from '../../src/db/callbacks';
import { NOTIFY, type DeliveryReceipt, type GatewayCallback } from '../../src/gateway/callback-protocol';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { callback, eventRow, insertAccount, postCallback, waitForEvent } from './support';

/**
 * Processing routes by notify_type. The account and receipt handlers belong to other modules; here they
 * are recorders so the routing itself (what reaches whom, how often, with what outcome) is observable.
 */
const accountCalls: GatewayCallback[] = [];
const receiptCalls: Array<{ guid: string; receipts: DeliveryReceipt[] }> = [];
let failAccountHandler = false;
const handlers: CallbackHandlers = {
  account: async (_ctx: AppContext, cb: GatewayCallback) => {
    if (failAccountHandler || cb.guid === 'guid-always-fails') throw new Error('account store unavailable');
    accountCalls.push(cb);
  },
  receipts: async (_ctx: AppContext, guid: string, receipts: DeliveryReceipt[]) => {
    receiptCalls.push({ guid, receipts });
  },
};

let env: TestEnv;
let worker: RunningWorker;
let tenant: TestTenant;
let account: { id: string; guid: string };

beforeAll(async () => {
  env = await createTestEnv('cbprocess', { api: true });
  worker = startCallbackProcessWorker(env.ctx, { handlers, backoffBaseMs: 20, maxBackoffMs: 50 });
  tenant = await createTenant(env);
  account = await insertAccount(env, tenant.tenantId);
});
afterAll(async () => {
  await worker.close();
  await env.close();
});

const settled = (id: string) =>
  waitForEvent(env, id, (row) => ['processed', 'ignored', 'failed'].includes(row.status) && (row.status !== 'failed' || row.retry_count >= 5), 'settled (processed, ignored, or failed after 5 tries)');

test('account events (online, offline, login progress) reach the account handler once each and end processed', async () => {
  const own = await insertAccount(env, tenant.tenantId); // other tests send events for the shared account
  const ids: string[] = [];
  for (const [n, payload] of [
    [NOTIFY.online, { user_info: { name: 'a' } }],
    [NOTIFY.offline, { scene: 'kicked' }],
    [NOTIFY.loginProgress, { state: 'waiting_confirm' }],
  ] as const) {
    const res = await postCallback(env, callback(own.guid, n, payload));
    expect(res.status).toBe(200);
    ids.push(res.body.id);
  }
  for (const id of ids) {
    const row = await settled(id);
    expect(row.status).toBe('processed');
    expect(row.process_time).toBeInstanceOf(Date);
    expect(row.tenant_id).toBe(tenant.tenantId);
  }
  const mine = accountCalls.filter((c) => c.guid === own.guid);
  expect(mine.map((c) => c.notify_type).sort()).toEqual([NOTIFY.online, NOTIFY.offline, NOTIFY.loginProgress].sort());
  expect(mine.find((c) => c.notify_type === NOTIFY.offline)?.payload).toEqual({ scene: 'kicked' });
});

test('incoming messages update the conversation: last message moves forward only, unread counts every message', async () => {
  const t0 = Math.floor(Date.now() / 1000);
  const msg = (conv: string, text: string, at: number, type: 'private' | 'group' = 'private') => ({
    kind: 'incoming',
    conversation_id: conv,
    conversation_type: type,
    sender_id: 'wm-sender',
    msg_id: `m-${text}`,
    content: { text },
    sent_at: at,
  });
  const first = await postCallback(env, callback(account.guid, NOTIFY.messages, { messages: [msg('conv-1', 'hello', t0), msg('conv-1', 'second', t0 + 1), msg('room-9', 'hi all', t0, 'group')] }));
  expect((await settled(first.body.id)).status).toBe('processed');
  // A late callback carrying an older message must not replace the newer last message.
  const late = await postCallback(env, callback(account.guid, NOTIFY.messages, { messages: [msg('conv-1', 'older', t0 - 60)] }));
  expect((await settled(late.body.id)).status).toBe('processed');

  const conv = await env.ctx.db('conversations').where({ account_id: account.id, conversation_id: 'conv-1' }).first();
  expect(conv).toMatchObject({ tenant_id: tenant.tenantId, conversation_type: 'private', last_msg_content: 'second', unread_count: 3 });
  expect(conv.last_msg_time.getTime()).toBe((t0 + 1) * 1000);
  const room = await env.ctx.db('conversations').where({ account_id: account.id, conversation_id: 'room-9' }).first();
  expect(room).toMatchObject({ conversation_type: 'group', last_msg_content: 'hi all', unread_count: 1 });
});

test('delivery receipts in a messages callback go to the receipt handler with their guid', async () => {
  const receipts = [
    { kind: 'receipt', msg_id: 'gw-1', status: 'delivered', at: 1 },
    { kind: 'receipt', msg_id: 'gw-2', status: 'failed', error_code: 'blocked', at: 2 },
  ];
  const res = await postCallback(env, callback(account.guid, NOTIFY.messages, { messages: receipts }));
  expect((await settled(res.body.id)).status).toBe('processed');
  const call = receiptCalls.find((c) => c.receipts.some((r) => r.msg_id === 'gw-1'));
  expect(call).toEqual({ guid: account.guid, receipts });
});

test('friend, contact, group and unknown notify types are kept as ignored with a reason', async () => {
  for (const n of [NOTIFY.friendRequest, NOTIFY.contactChange, NOTIFY.groupChange, 777]) {
    const res = await postCallback(env, callback(account.guid, n, { x: n }));
    const row = await settled(res.body.id);
    expect(row.status).toBe('ignored');
    expect(row.error_message).toBe(`no handler for notify_type ${n}`);
    expect(JSON.parse(row.raw_data).payload).toEqual({ x: n });
  }
});

test('without the account or receipt handler installed, events are kept (ignored / noted), never failed or lost', async () => {
  // Stored directly (not queued) so only this call processes them, as a worker lacking those modules would.
  const [online, receipts] = await insertCallbackEvents(env.ctx.db, [
    { eventKey: eventKey('gateway', account.guid, 'no-handler-1'), guid: account.guid, notifyType: NOTIFY.online, eventType: 'account.online', rawData: JSON.stringify(callback(account.guid, NOTIFY.online)) },
    {
      eventKey: eventKey('gateway', account.guid, 'no-handler-2'),
      guid: account.guid,
      notifyType: NOTIFY.messages,
      eventType: 'messages',
      rawData: JSON.stringify(callback(account.guid, NOTIFY.messages, { messages: [{ kind: 'receipt', msg_id: 'gw-9', status: 'delivered', at: 1 }] })),
    },
  ]);
  expect(await processCallbackEvent(env.ctx, online.id, {})).toEqual({ outcome: 'ignored', note: 'account callback handler not installed' });
  expect(await processCallbackEvent(env.ctx, receipts.id, {})).toEqual({ outcome: 'processed', note: '1 receipt(s) not applied: receipt handler not installed' });
  expect((await eventRow(env, online.id)).status).toBe('ignored');
  expect(await eventRow(env, receipts.id)).toMatchObject({ status: 'processed', error_message: '1 receipt(s) not applied: receipt handler not installed' });
});

test('the same event processed concurrently is applied once', async () => {
  const res = await postCallback(env, callback(account.guid, NOTIFY.messages, {
    messages: [{ kind: 'incoming', conversation_id: 'conv-once', conversation_type: 'private', sender_id: 's', msg_id: 'x', content: 'once', sent_at: Date.now() }],
  }));
  const results = await Promise.all(Array.from({ length: 5 }, () => processCallbackEvent(env.ctx, res.body.id, handlers)));
  await settled(res.body.id);
  expect(results.filter((r) => r.outcome === 'processed').length).toBeLessThanOrEqual(1);
  const conv = await env.ctx.db('conversations').where({ account_id: account.id, conversation_id: 'conv-once' }).first();
  expect(conv.unread_count).toBe(1);
  // A processed event is never applied again, whoever asks.
  expect(await processCallbackEvent(env.ctx, res.body.id, handlers)).toEqual({ outcome: 'skipped', status: 'processed' });
  expect((await env.ctx.db('conversations').where({ account_id: account.id, conversation_id: 'conv-once' }).first()).unread_count).toBe(1);
});

test('a failing handler retries with backoff, ends failed with the error, and a re-drive processes it', async () => {
  failAccountHandler = true;
  const res = await postCallback(env, callback(account.guid, NOTIFY.offline, { scene: 'network' }));
  const failed = await settled(res.body.id);
  expect(failed).toMatchObject({ status: 'failed', error_message: 'account store unavailable', retry_count: 5 });

  const listed = await http('GET', `${env.url}/api/v1/callbacks/events?status=failed`, { token: tenant.adminToken });
  expect(listed.body.data.map((e: { id: string }) => e.id)).toContain(res.body.id);

  failAccountHandler = false;
  const redrive = await http('POST', `${env.url}/api/v1/callbacks/events/${res.body.id}/redrive`, { token: tenant.adminToken });
  expect(redrive.status).toBe(202);
  const done = await waitForEvent(env, res.body.id, (row) => row.status === 'processed', 'processed after the re-drive');
  expect(done.error_message).toBeNull();
  expect(accountCalls.filter((c) => c.payload.scene === 'network')).toHaveLength(1);

  const again = await http('POST', `${env.url}/api/v1/callbacks/events/${res.body.id}/redrive`, { token: tenant.adminToken });
  expect(again.status).toBe(409);
  expect(again.body.error.details.current_state).toBe('processed');
  const audit = await env.ctx.db('audit_logs').where({ action: 'callback_event.redrive', target_id: res.body.id }).first();
  expect(audit).toMatchObject({ tenant_id: tenant.tenantId, actor_id: tenant.adminId });
});

test('one failing event in a batch job does not hold back the others; it continues on its own job', async () => {
  const raw = (guid: string, i: number) => JSON.stringify(callback(guid, NOTIFY.online, { i }));
  const stored = await insertCallbackEvents(env.ctx.db, [
    { eventKey: eventKey('gateway', 'b', '1'), guid: account.guid, notifyType: NOTIFY.online, eventType: 'account.online', rawData: raw(account.guid, 1) },
    { eventKey: eventKey('gateway', 'b', '2'), guid: 'guid-always-fails', notifyType: NOTIFY.online, eventType: 'account.online', rawData: raw('guid-always-fails', 2) },
    { eventKey: eventKey('gateway', 'b', '3'), guid: account.guid, notifyType: NOTIFY.groupChange, eventType: 'group.change', rawData: raw(account.guid, 3) },
  ]);
  expect(await enqueueCallbackBatch(env.ctx, stored.map((s) => s.id))).toBe(3);
  const [good, bad, other] = await Promise.all(stored.map((s) => settled(s.id)));
  expect(good.status).toBe('processed');
  expect(other.status).toBe('ignored');
  expect(bad).toMatchObject({ status: 'failed', retry_count: 5, error_message: 'account store unavailable' });
  const perEvent = await env.ctx.queues.get('callback-process').getJob(bad.id);
  expect(await perEvent?.getState()).toBe('failed');
});
