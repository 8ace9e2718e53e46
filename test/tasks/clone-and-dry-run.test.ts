import { createTenant, createUserWithRole } from '../helpers/env';
import { http } from '../helpers/http';
import { onlineAccount, sendingSuite, targets } from '../sending/helpers';

const s = sendingSuite('clonedry');
const api = (p: string) => `${s.env.url}/api/v1${p}`;

/** Every row count that a dry run must leave alone. */
async function footprint(tenantId: string) {
  const db = s.env.ctx.db;
  const n = async (table: string) => Number((await db(table).where({ tenant_id: tenantId }).count({ n: '*' }).first())?.n ?? 0);
  return { tasks: await n('batch_send_tasks'), messages: await n('messages'), audit: await n('audit_logs') };
}

test('dry run: audience count and the first messages rendered with their account, nothing written', async () => {
  const { env, tenant } = s;
  const a = await onlineAccount(env, tenant.tenantId);
  const tpl = await http('POST', api('/templates'), {
    token: tenant.adminToken,
    body: { name: `tpl-${Date.now()}`, content: { type: 'text', text: 'Hi {{name}}, {{offer}}' }, variables: [{ name: 'name', required: true }, { name: 'offer', default: '10% off' }] },
  });
  expect(tpl.status).toBe(201);
  const before = await footprint(tenant.tenantId);
  const body = {
    name: 'dry',
    account_ids: [a.id],
    template_id: tpl.body.id,
    target_type: 'manual',
    targets: [
      { conversation_id: 'd-1', variables: { name: 'Ann' } },
      { conversation_id: 'd-2', variables: { name: 'Bo', offer: 'free tea' } },
      { conversation_id: 'd-1', variables: { name: 'Ann' } },
    ],
  };
  const res = await http('POST', api('/tasks/dry-run'), { token: tenant.adminToken, body });
  expect(res.status).toBe(200);
  expect(res.body.audience).toMatchObject({ target_type: 'manual', count: 2, duplicates: 1 });
  expect(res.body.samples[0]).toEqual({ conversation_id: 'd-1', account_id: a.id, content: { type: 'text', text: 'Hi Ann, 10% off' }, error: null });
  expect(res.body.samples[1].content).toEqual({ type: 'text', text: 'Hi Bo, free tea' });
  expect(await footprint(tenant.tenantId)).toEqual(before);

  // The same refusals as create: a missing variable is 422 naming the target, a bad field 400 naming it.
  const missing = await http('POST', api('/tasks/dry-run'), { token: tenant.adminToken, body: { ...body, targets: [{ conversation_id: 'x' }] } });
  expect(missing.status).toBe(422);
  expect(missing.body.error).toMatchObject({ code: 'missing_variables', details: { targets: [{ index: 0, missing: ['name'] }] } });
  const bad = await http('POST', api('/tasks/dry-run'), { token: tenant.adminToken, body: { ...body, target_type: 'nope' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body.error.details)).toContain('target_type');
  expect(await footprint(tenant.tenantId)).toEqual(before);
});

test('preview of an existing task reads its audience and renders its messages; another tenant gets 404', async () => {
  const { env, tenant, tasks } = s;
  const a = await onlineAccount(env, tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(7, 'pv') });
  const res = await http('GET', api(`/tasks/${id}/preview`), { token: tenant.adminToken });
  expect(res.status).toBe(200);
  expect(res.body.audience.count).toBe(7);
  expect(res.body.samples).toHaveLength(5);
  expect(res.body.samples.map((x: any) => x.conversation_id)).toEqual(['pv-0', 'pv-1', 'pv-2', 'pv-3', 'pv-4']);
  expect(res.body.samples[0].content).toEqual({ type: 'text', text: 'hello' });
  const other = await createTenant(env);
  expect((await http('GET', api(`/tasks/${id}/preview`), { token: other.adminToken })).status).toBe(404);
});

test('clone: a draft with the same accounts, audience, content and strategy, which sends like the original', async () => {
  const { env, tenant, tasks } = s;
  const a = await onlineAccount(env, tenant.tenantId);
  const b = await onlineAccount(env, tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id, b.id], targets: targets(6, 'cl'), priority: 7, send_strategy: { rate_per_minute: 0, jitter: 0.1, error_threshold: 9 } });
  await tasks.start(id);
  const original = await tasks.waitForStatus(id, 'completed');

  const res = await http('POST', api(`/tasks/${id}/clone`), { token: tenant.adminToken, body: {} });
  expect(res.status).toBe(201);
  const clone = res.body;
  expect(clone.id).not.toBe(id);
  expect(clone).toMatchObject({
    status: 'created',
    name: `${original.name} (copy)`,
    account_ids: original.account_ids,
    content: original.content,
    target_type: 'manual',
    target_summary: { targets: 6 },
    send_strategy: original.send_strategy,
    priority: 7,
    total_count: 0,
    retry_of: null,
  });
  await tasks.start(clone.id);
  const done = await tasks.waitForStatus(clone.id, 'completed');
  expect(done).toMatchObject({ total_count: 6, success_count: 6 });
  const convs = (await env.ctx.db('messages').where({ batch_id: clone.id }).pluck('conversation_id')).sort();
  expect(convs).toEqual(targets(6, 'cl').map((t) => t.conversation_id).sort());

  // Named and started at once.
  const started = await http('POST', api(`/tasks/${id}/clone`), { token: tenant.adminToken, body: { name: 'again', start: true } });
  expect(started.status).toBe(201);
  expect(started.body).toMatchObject({ name: 'again', status: 'running' });
  await tasks.waitForStatus(started.body.id, 'completed');
});

test('clone refuses bad input with a code and field, a retry task, another tenant, a viewer', async () => {
  const { env, tenant, tasks } = s;
  const a = await onlineAccount(env, tenant.tenantId);
  const id = await tasks.create({ account_ids: [a.id], targets: targets(2, 'cr') });
  const bad = await http('POST', api(`/tasks/${id}/clone`), { token: tenant.adminToken, body: { name: '' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body.error.details)).toContain('name');
  const extra = await http('POST', api(`/tasks/${id}/clone`), { token: tenant.adminToken, body: { bogus: 1 } });
  expect(extra.status).toBe(400);
  const other = await createTenant(env);
  expect((await http('POST', api(`/tasks/${id}/clone`), { token: other.adminToken, body: {} })).status).toBe(404);
  const viewer = await createUserWithRole(env, tenant, 'viewer');
  expect((await http('POST', api(`/tasks/${id}/clone`), { token: viewer.token, body: {} })).status).toBe(403);
  expect((await http('GET', api(`/tasks/${id}/preview`), { token: viewer.token })).status).toBe(200);

  // A retry task is not cloned (it reads its original's failures).
  env.sim.control.configure({ failure_rate: 1 });
  const failing = await tasks.create({ account_ids: [a.id], targets: targets(1, 'crf'), send_strategy: { rate_per_minute: 0, retry: { max_attempts: 1 } } });
  await tasks.start(failing);
  await tasks.waitForStatus(failing, 'failed');
  env.sim.control.configure({ failure_rate: 0 });
  const retry = await http('POST', api(`/tasks/${failing}/retry-failed`), { token: tenant.adminToken, body: { start: false } });
  expect(retry.status).toBe(201);
  const refused = await http('POST', api(`/tasks/${retry.body.id}/clone`), { token: tenant.adminToken, body: {} });
  expect(refused.status).toBe(422);
  expect(refused.body.error).toMatchObject({ code: 'not_cloneable', details: { retry_of: failing } });
});
