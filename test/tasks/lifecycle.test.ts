import { parseJson } from '../../src/db/json';
import { createTenant, createUserWithRole, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { createSendingEnv, onlineAccount, startWorkers, stopWorkers, taskApi, targets, type SendingEnv } from '../sending/helpers';
import type { RunningWorker } from '../../workers';

let env: SendingEnv;
let t: TestTenant;
let workers: RunningWorker[];
beforeAll(async () => {
  env = await createSendingEnv('tasklife');
  t = await createTenant(env);
  workers = startWorkers(env);
});
afterAll(async () => {
  await stopWorkers(workers);
  await env.close();
});

const api = (p: string) => `${env.url}/api/v1${p}`;
const getTask = async (id: string) => (await http('GET', api(`/tasks/${id}`), { token: t.adminToken })).body;

test('full lifecycle over HTTP: template task to two accounts, every target delivered once, counters exact', async () => {
  const a1 = await onlineAccount(env, t.tenantId);
  const a2 = await onlineAccount(env, t.tenantId);
  const tpl = await http('POST', api('/templates'), {
    token: t.adminToken,
    body: { name: 'promo', content: { type: 'text', text: 'Hi {{name}} from {{shop}}' }, variables: [{ name: 'name', default: 'friend' }, { name: 'shop', required: true }] },
  });
  const list = [...targets(40), { conversation_id: 'conv-1' }, { conversation_id: 'vip', variables: { name: 'Ann' } }];
  const created = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: {
      name: 'campaign',
      account_ids: [a1.id, a2.id],
      template_id: tpl.body.id,
      variables: { shop: 'Z' },
      target_type: 'manual',
      targets: list,
      send_strategy: { rate_per_minute: 0 },
      priority: 7,
    },
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ status: 'created', total_count: 0, account_ids: [a1.id, a2.id], priority: 7 });
  const id = created.body.id;
  expect((await http('POST', api(`/tasks/${id}/pause`), { token: t.adminToken })).status).toBe(409);

  const started = await http('POST', api(`/tasks/${id}/start`), { token: t.adminToken });
  expect(started.status).toBe(200);
  expect(started.body.status).toBe('running');
  const done = await taskApi(env, t).waitForStatus(id, 'completed');
  // 42 targets, one duplicate (conv-1): 41 messages.
  expect(done).toMatchObject({ total_count: 41, sent_count: 41, success_count: 41, failed_count: 0, skipped_count: 1, progress_percent: 100 });
  expect(done.end_time).toBeTruthy();

  const ledger = env.sim.control.ledger.summary();
  expect(ledger.unique_keys).toBe(41);
  expect(ledger.duplicate_deliveries).toBe(0);
  const rows = await env.ctx.db('messages').where({ batch_id: id });
  expect(new Set(rows.map((r: any) => r.status))).toEqual(new Set(['sent']));
  expect(new Set(rows.map((r: any) => r.account_id))).toEqual(new Set([a1.id, a2.id]));
  for (const r of rows) expect(env.sim.control.ledger.deliveriesOf(r.id)).toBe(1);
  const vip = rows.find((r: any) => r.conversation_id === 'vip');
  expect(parseJson(vip.content, {})).toEqual({ type: 'text', text: 'Hi Ann from Z' });
  expect(parseJson<any>(rows.find((r: any) => r.conversation_id === 'conv-3').content, {}).text).toBe('Hi friend from Z');

  const tplAfter = await http('GET', api(`/templates/${tpl.body.id}`), { token: t.adminToken });
  expect(tplAfter.body.usage_count).toBe(1);
  expect(tplAfter.body.last_used_time).toBeTruthy();

  const progress = await http('GET', api(`/tasks/${id}/progress`), { token: t.adminToken });
  expect(progress.body).toMatchObject({ task_id: id, status: 'completed', percent: 100, counts: { total: 41, sent: 41, pending: 0 }, eta_seconds: 0 });

  const msgs = await http('GET', api(`/messages?task_id=${id}&status=sent&limit=30`), { token: t.adminToken });
  expect(msgs.body.data).toHaveLength(30);
  const more = await http('GET', api(`/messages?task_id=${id}&limit=30&cursor=${msgs.body.next_cursor}`), { token: t.adminToken });
  expect(more.body.data).toHaveLength(11);
  expect(more.body.next_cursor).toBeNull();
  const one = await http('GET', api(`/messages/${vip.id}`), { token: t.adminToken });
  expect(one.body).toMatchObject({ id: vip.id, status: 'sent', task_id: id, wework_msg_id: expect.any(String) });

  expect((await http('POST', api(`/tasks/${id}/resume`), { token: t.adminToken })).body.error.details.current_state).toBe('completed');
  const actions = await env.ctx.db('audit_logs').where({ target_id: id }).pluck('action');
  expect(actions.sort()).toEqual(['task.create', 'task.start']);
});

test('validation, permissions and tenant isolation', async () => {
  const a = await onlineAccount(env, t.tenantId);
  const bad = await http('POST', api('/tasks'), { token: t.adminToken, body: { name: 'x', target_type: 'manual', account_ids: [a.id] } });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields.map((f: any) => f.field)).toEqual(expect.arrayContaining(['body.content', 'body.targets']));
  const other = await createTenant(env);
  const foreign = await http('POST', api('/tasks'), {
    token: other.adminToken,
    body: { name: 'x', target_type: 'manual', account_ids: [a.id], content: { type: 'text', text: 'hi' }, targets: targets(1) },
  });
  expect(foreign.status).toBe(422);
  expect(foreign.body.error.code).toBe('unknown_accounts');
  const missing = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: { name: 'x', target_type: 'manual', account_ids: [a.id], content: { type: 'text', text: 'hi {{who}}' }, targets: [{ conversation_id: 'a', variables: { who: 'x' } }, { conversation_id: 'b' }] },
  });
  expect(missing.status).toBe(422);
  expect(missing.body.error).toMatchObject({ code: 'missing_variables', details: { targets: [{ index: 1, missing: ['who'] }] } });

  const ok = await http('POST', api('/tasks'), {
    token: t.adminToken,
    body: { name: 'mine', target_type: 'manual', account_ids: [a.id], content: { type: 'text', text: 'hi' }, targets: targets(1) },
  });
  expect((await http('GET', api(`/tasks/${ok.body.id}`), { token: other.adminToken })).status).toBe(404);
  expect((await http('POST', api(`/tasks/${ok.body.id}/start`), { token: other.adminToken })).status).toBe(404);
  expect((await http('GET', api(`/tasks/${ok.body.id}/progress`), { token: other.adminToken })).status).toBe(404);
  const viewer = await createUserWithRole(env, t, 'viewer');
  expect((await http('GET', api(`/tasks/${ok.body.id}`), { token: viewer.token })).status).toBe(200);
  expect((await http('POST', api(`/tasks/${ok.body.id}/start`), { token: viewer.token })).status).toBe(403);
  const cancelled = await http('POST', api(`/tasks/${ok.body.id}/cancel`), { token: t.adminToken });
  expect(cancelled.body.status).toBe('cancelled');
  const list = await http('GET', api(`/tasks?status=cancelled&account_id=${a.id}`), { token: t.adminToken });
  expect(list.body.data.map((x: any) => x.id)).toEqual([ok.body.id]);
  expect((await http('GET', api('/tasks?status=cancelled'), { token: other.adminToken })).body.data).toEqual([]);
  expect((await http('GET', api('/tasks?status=nope'), { token: t.adminToken })).status).toBe(400);
});
