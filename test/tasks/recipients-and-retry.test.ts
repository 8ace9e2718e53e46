import { parseJson } from '../../src/db/json';
import { createTenant, createUserWithRole } from '../helpers/env';
import { http } from '../helpers/http';
import { onlineAccount, sendingSuite, targets } from '../sending/helpers';

const s = sendingSuite('recipretry');
const api = (p: string) => `${s.env.url}/api/v1${p}`;

test('recipients page by keyset with a status filter and reasons; retry-failed sends exactly the failed ones again, once', async () => {
  const { env, tasks, tenant } = s;
  env.sim.control.configure({ permanent_targets: ['conv-1', 'conv-2', 'conv-3'] });
  const a = await onlineAccount(env, tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(12) });
  await tasks.start(id);
  await tasks.waitForStatus(id, 'completed');

  const token = tenant.adminToken;
  const first = await http('GET', api(`/tasks/${id}/recipients?limit=5`), { token });
  expect(first.status).toBe(200);
  expect(first.body.data).toHaveLength(5);
  const rest = await http('GET', api(`/tasks/${id}/recipients?limit=50&cursor=${first.body.next_cursor}`), { token });
  expect(rest.body.next_cursor).toBeNull();
  const all = [...first.body.data, ...rest.body.data];
  expect(new Set(all.map((r: any) => r.conversation_id)).size).toBe(12);

  const failed = await http('GET', api(`/tasks/${id}/recipients?status=failed`), { token });
  expect(failed.body.data.map((r: any) => r.conversation_id).sort()).toEqual(['conv-1', 'conv-2', 'conv-3']);
  for (const r of failed.body.data) expect(r).toMatchObject({ status: 'failed', error_code: 'target_not_found', error_message: expect.stringContaining('does not exist') });

  const summary = await http('GET', api(`/tasks/${id}/recipients/summary`), { token });
  expect(summary.body.by_status).toMatchObject({ sent: 9, failed: 3, pending: 0 });
  expect(summary.body.reasons).toEqual([{ status: 'failed', error_code: 'target_not_found', count: 3, example_message: expect.stringContaining('does not exist') }]);

  // Not found is permanent: by default a retry has nothing worth sending again.
  const permanentOnly = await http('POST', api(`/tasks/${id}/retry-failed`), { token, body: {} });
  expect(permanentOnly.status).toBe(422);
  expect(permanentOnly.body.error).toMatchObject({ code: 'nothing_to_retry', details: { include_permanent: false } });
  // The recipients are cured at the gateway; asked to include permanent failures, the retry reaches exactly them.
  env.sim.control.configure({ permanent_targets: [] });
  const retry = await http('POST', api(`/tasks/${id}/retry-failed`), { token, body: { include_permanent: true } });
  expect(retry.status).toBe(201);
  expect(retry.body).toMatchObject({ target_type: 'retry', retry_of: id, status: 'running', account_ids: [a.id], name: expect.stringContaining('(retry)') });
  const done = await tasks.waitForStatus(retry.body.id, 'completed');
  expect(done).toMatchObject({ total_count: 3, success_count: 3, failed_count: 0 });
  const retried = await env.ctx.db('messages').where({ batch_id: retry.body.id });
  expect(retried.map((m: any) => m.conversation_id).sort()).toEqual(['conv-1', 'conv-2', 'conv-3']);
  for (const m of retried) expect(parseJson(m.content, {})).toEqual({ type: 'text', text: 'hello' });

  // One retry per task: the second answer names the first retry.
  const again = await http('POST', api(`/tasks/${id}/retry-failed`), { token, body: {} });
  expect(again.status).toBe(409);
  expect(again.body.error).toMatchObject({ code: 'already_retried', details: { task_id: retry.body.id } });
  // Nothing failed in the retry: nothing to retry.
  const nothing = await http('POST', api(`/tasks/${retry.body.id}/retry-failed`), { token, body: {} });
  expect(nothing.status).toBe(422);
  expect(nothing.body.error.code).toBe('nothing_to_retry');
});

test('retry-failed refuses an unfinished task; a viewer cannot retry; another tenant sees 404', async () => {
  const { env, tasks, tenant } = s;
  const a = await onlineAccount(env, tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(2, 'u') });
  const early = await http('POST', api(`/tasks/${id}/retry-failed`), { token: tenant.adminToken, body: {} });
  expect(early.status).toBe(409);
  expect(early.body.error).toMatchObject({ code: 'task_not_finished', details: { status: 'created' } });

  const other = await createTenant(env);
  for (const path of [`/tasks/${id}/recipients`, `/tasks/${id}/recipients/summary`]) {
    expect((await http('GET', api(path), { token: other.adminToken })).status).toBe(404);
  }
  expect((await http('POST', api(`/tasks/${id}/retry-failed`), { token: other.adminToken, body: {} })).status).toBe(404);
  const viewer = await createUserWithRole(env, tenant, 'viewer');
  expect((await http('POST', api(`/tasks/${id}/retry-failed`), { token: viewer.token, body: {} })).status).toBe(403);
  expect((await http('GET', api(`/tasks/${id}/recipients?status=bogus`), { token: viewer.token })).status).toBe(400);
});

test('retry-failed leaves permanent failures out unless asked, and links the retry to its original', async () => {
  const { env, tasks, tenant } = s;
  const token = tenant.adminToken;
  const a = await onlineAccount(env, tenant.tenantId);
  // Two recipients fail for good (not found), three fail transiently past the policy's one attempt.
  env.sim.control.configure({ permanent_targets: ['mix-0', 'mix-1'], failure_rate: 1 });
  const id = await tasks.create({ account_ids: [a.id], targets: targets(5, 'mix'), send_strategy: { rate_per_minute: 0, retry: { max_attempts: 1 } } });
  await tasks.start(id);
  await tasks.waitForStatus(id, 'failed');
  env.sim.control.configure({ permanent_targets: [], failure_rate: 0 });
  const codes = await env.ctx.db('messages').where({ batch_id: id }).select('conversation_id', 'error_code');
  // The injected 503 comes before the not-found check in the simulator: make the split explicit.
  await env.ctx.db('messages').where({ batch_id: id }).whereIn('conversation_id', ['mix-0', 'mix-1']).update({ error_code: 'not_friend' });
  expect(codes).toHaveLength(5);

  const bad = await http('POST', api(`/tasks/${id}/retry-failed`), { token, body: { include_permanent: 'yes' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body.error.details)).toContain('include_permanent');

  const retry = await http('POST', api(`/tasks/${id}/retry-failed`), { token, body: {} });
  expect(retry.status).toBe(201);
  expect(retry.body).toMatchObject({ retry_of: id, target_type: 'retry' });
  await tasks.waitForStatus(retry.body.id, 'completed');
  const sent = (await env.ctx.db('messages').where({ batch_id: retry.body.id }).pluck('conversation_id')).sort();
  expect(sent).toEqual(['mix-2', 'mix-3', 'mix-4']);
});
