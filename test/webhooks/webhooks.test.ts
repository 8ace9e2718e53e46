import { Webhook } from 'standardwebhooks';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { publishWebhookEvent } from '../../src/webhooks/publish';
import { startWebhookDeliverWorker } from '../../workers/webhook-deliver.worker';
import type { RunningWorker } from '../../workers';
import { startReceiver, type Receiver } from './receiver';

/**
 * Tenant webhooks end to end: the API, the outbox, the delivery worker and a real receiver on loopback
 * (allowed explicitly through WEBHOOK_ALLOWED_CIDRS; everything else private stays refused).
 */
let env: TestEnv;
let worker: RunningWorker;
let receiver: Receiver;
let tenant: TestTenant;

beforeAll(async () => {
  env = await createTestEnv('webhooks', {
    api: true,
    env: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32', WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_TIMEOUT_MS: '3000' },
  });
  worker = startWebhookDeliverWorker(env.ctx, { idleMs: 50 });
  receiver = await startReceiver();
  tenant = await createTenant(env);
});
afterAll(async () => {
  await worker?.close();
  await receiver?.close();
  await env?.close();
});

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });
const at = (path: string) => receiver.received.filter((r) => r.path === path);

async function createEndpoint(path: string, extra: Record<string, unknown> = {}, t: TestTenant = tenant) {
  const res = await api('POST', '/webhooks', t.adminToken, { name: `ep ${path}`, url: `${receiver.url}${path}`, ...extra });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string };
}

test('create shows the secret once; listings and the database never show it', async () => {
  const ep = await createEndpoint('/once', { event_types: ['message.sent', 'task.completed'] });
  expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32}$/);
  const list = await api('GET', '/webhooks', tenant.adminToken);
  expect(list.status).toBe(200);
  expect(JSON.stringify(list.body)).not.toContain(ep.secret);
  const one = await api('GET', `/webhooks/${ep.id}`, tenant.adminToken);
  expect(one.body).toMatchObject({ id: ep.id, event_types: ['message.sent', 'task.completed'], active: true, batch_max: 1 });
  expect(one.body.secret).toBeUndefined();
  const row = await env.ctx.db('webhook_endpoints').where({ id: ep.id }).first();
  expect(JSON.stringify(row)).not.toContain(ep.secret.slice(6));
});

test('bad input is a 400 naming the field; private and metadata addresses are refused', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ name: 'x', url: 'ftp://example.com/hook' }, 'body.url'],
    [{ name: 'x', url: 'http://169.254.169.254/latest/meta-data' }, 'body.url'],
    [{ name: 'x', url: 'http://10.0.0.8/hook' }, 'body.url'],
    [{ name: 'x', url: 'http://[::1]:8080/hook' }, 'body.url'],
    [{ name: 'x', url: 'https://example.com/hook', event_types: ['message.exploded'] }, 'body.event_types.0'],
    [{ name: 'x', url: 'https://example.com/hook', batch_max: 0 }, 'body.batch_max'],
    [{ name: '', url: 'https://example.com/hook' }, 'body.name'],
  ];
  for (const [payload, field] of cases) {
    const res = await api('POST', '/webhooks', tenant.adminToken, payload);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.error.details)).toContain(field);
  }
  expect(await env.ctx.db('webhook_endpoints').where({ tenant_id: tenant.tenantId, name: 'x' }).count({ n: '*' }).first()).toEqual({ n: 0 });
});

test("another tenant's endpoint answers 404, and operators without webhooks permissions get 403", async () => {
  const ep = await createEndpoint('/isolated');
  const other = await createTenant(env);
  for (const [method, path] of [
    ['GET', `/webhooks/${ep.id}`],
    ['PATCH', `/webhooks/${ep.id}`],
    ['DELETE', `/webhooks/${ep.id}`],
    ['POST', `/webhooks/${ep.id}/rotate-secret`],
    ['GET', `/webhooks/${ep.id}/deliveries`],
  ] as const) {
    const res = await api(method, path, other.adminToken, method === 'PATCH' ? { name: 'mine now' } : method === 'POST' ? {} : undefined);
    expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 404`);
  }
  expect((await api('GET', '/webhooks', other.adminToken)).body.data).toEqual([]);
  const operator = await createUserWithRole(env, tenant, 'operator');
  expect((await api('GET', '/webhooks', operator.token)).status).toBe(403);
  expect((await api('POST', '/webhooks', operator.token, { name: 'x', url: 'https://example.com/h' })).status).toBe(403);
});

test('a published event is delivered signed; standardwebhooks verifies it', async () => {
  const ep = await createEndpoint('/signed');
  await env.ctx.db.transaction((trx) => publishWebhookEvent(trx, tenant.tenantId, 'task.completed', { task_id: 't1', summary: { total: 3 } }));
  const [req] = await waitFor(() => at('/signed'), 'the event at /signed', { until: (r) => r.length > 0 });
  const payload = new Webhook(ep.secret).verify(req.body, req.headers as Record<string, string>) as { type: string; timestamp: string; data: unknown };
  expect(payload).toMatchObject({ type: 'task.completed', data: { task_id: 't1', summary: { total: 3 } } });
  expect(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(req.body, req.headers as Record<string, string>)).toThrow();
  const log = await waitFor(async () => (await api('GET', `/webhooks/${ep.id}/deliveries`, tenant.adminToken)).body.data, 'the delivery logged as succeeded', {
    until: (d: Array<{ status: string }>) => d.length === 1 && d[0].status === 'succeeded',
  });
  expect(log[0]).toMatchObject({ id: req.headers['webhook-id'], attempts: 1, last_status_code: 200, last_response: 'answered 200', event_type: 'task.completed' });
  expect(log[0].last_latency_ms).toEqual(expect.any(Number));
});

test('an event type the endpoint does not subscribe to is not sent', async () => {
  await createEndpoint('/only-accounts', { event_types: ['account.status'] });
  await publishWebhookEvent(env.ctx.db, tenant.tenantId, 'message.sent', { message_id: 'm-x' });
  await publishWebhookEvent(env.ctx.db, tenant.tenantId, 'account.status', { account_id: 'a1', new_status: 'online' });
  const got = await waitFor(() => at('/only-accounts'), 'the account.status event', { until: (r) => r.length > 0 });
  expect(got.map((r) => JSON.parse(r.body).type)).toEqual(['account.status']);
});

test('failures are retried with the same webhook-id until a 2xx', async () => {
  const ep = await createEndpoint('/flaky', { event_types: ['account.risk'] });
  receiver.script('/flaky', [500, 302]);
  await publishWebhookEvent(env.ctx.db, tenant.tenantId, 'account.risk', { account_id: 'a9' });
  const reqs = await waitFor(() => at('/flaky'), 'three attempts at /flaky', { until: (r) => r.length >= 3 });
  expect(new Set(reqs.map((r) => r.headers['webhook-id'])).size).toBe(1);
  expect(at('/elsewhere')).toHaveLength(0); // the 302 was not followed
  const d = await waitFor(async () => (await api('GET', `/webhooks/${ep.id}/deliveries`, tenant.adminToken)).body.data[0], 'delivery succeeded', { until: (x) => x?.status === 'succeeded' });
  expect(d).toMatchObject({ attempts: 3, last_status_code: 200 });
});

test('410 disables the endpoint at once; exhausting the retries disables it too, with an audit row', async () => {
  const gone = await createEndpoint('/gone', { event_types: ['task.status'] });
  const dead = await createEndpoint('/dead', { event_types: ['task.status'] });
  receiver.script('/gone', [410]);
  receiver.script('/dead', [503, 503, 503]);
  await publishWebhookEvent(env.ctx.db, tenant.tenantId, 'task.status', { task_id: 't2', status: 'running' });
  const goneEp = await waitFor(async () => (await api('GET', `/webhooks/${gone.id}`, tenant.adminToken)).body, '/gone disabled', { until: (e) => e.active === false });
  expect(goneEp.disabled_reason).toContain('410');
  expect(at('/gone')).toHaveLength(1);
  const deadEp = await waitFor(async () => (await api('GET', `/webhooks/${dead.id}`, tenant.adminToken)).body, '/dead disabled', { until: (e) => e.active === false });
  expect(deadEp.disabled_reason).toContain('3 attempts');
  expect(at('/dead')).toHaveLength(3);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: tenant.tenantId, action: 'webhook.disable' }).select('target_id');
  expect(audit.map((a) => a.target_id).sort()).toEqual([gone.id, dead.id].sort());
  // Re-enabling clears the reason; manual re-delivery sends the same webhook-id again.
  expect((await api('PATCH', `/webhooks/${dead.id}`, tenant.adminToken, { active: true })).body).toMatchObject({ active: true, disabled_reason: null });
  const [failed] = (await api('GET', `/webhooks/${dead.id}/deliveries?status=failed`, tenant.adminToken)).body.data;
  const redo = await api('POST', `/webhooks/${dead.id}/deliveries/${failed.id}/redeliver`, tenant.adminToken);
  expect(redo.status).toBe(202);
  const after = await waitFor(() => at('/dead'), 'the re-delivery', { until: (r) => r.length === 4 });
  expect(after[3].headers['webhook-id']).toBe(failed.id);
  await waitFor(async () => (await api('GET', `/webhooks/${dead.id}/deliveries/${failed.id}`, tenant.adminToken)).body, 're-delivery succeeded', { until: (x) => x.status === 'succeeded' });
});

test('after a rotation both secrets sign during the overlap; with no overlap only the new one does', async () => {
  const ep = await createEndpoint('/rotate', { event_types: ['conversation.message'] });
  const rotated = await api('POST', `/webhooks/${ep.id}/rotate-secret`, tenant.adminToken, { overlap_seconds: 3600 });
  expect(rotated.status).toBe(200);
  expect(rotated.body.secret).not.toBe(ep.secret);
  expect(rotated.body.previous_secret_expires_at).toEqual(expect.any(String));
  await publishWebhookEvent(env.ctx.db, tenant.tenantId, 'conversation.message', { conversation_id: 'c1' });
  const [first] = await waitFor(() => at('/rotate'), 'delivery after rotation', { until: (r) => r.length === 1 });
  expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
  for (const secret of [ep.secret, rotated.body.secret]) expect(() => new Webhook(secret).verify(first.body, first.headers as Record<string, string>)).not.toThrow();

  const again = await api('POST', `/webhooks/${ep.id}/rotate-secret`, tenant.adminToken, { overlap_seconds: 0 });
  await new Promise((r) => setTimeout(r, 1100)); // the worker's endpoint cache lives one second
  await publishWebhookEvent(env.ctx.db, tenant.tenantId, 'conversation.message', { conversation_id: 'c2' });
  const [, second] = await waitFor(() => at('/rotate'), 'delivery after the second rotation', { until: (r) => r.length === 2 });
  expect(() => new Webhook(again.body.secret).verify(second.body, second.headers as Record<string, string>)).not.toThrow();
  expect(() => new Webhook(rotated.body.secret).verify(second.body, second.headers as Record<string, string>)).toThrow();
});

test('batching packs message events into one request per batch_max', async () => {
  const ep = await createEndpoint('/batched', { event_types: ['message.sent', 'task.status'], batch_max: 50 });
  await env.ctx.db.transaction(async (trx) => {
    for (let i = 0; i < 120; i++) await publishWebhookEvent(trx, tenant.tenantId, 'message.sent', { message_id: `m${i}` });
    await publishWebhookEvent(trx, tenant.tenantId, 'task.status', { task_id: 't3', status: 'completed' });
  });
  const reqs = await waitFor(() => at('/batched'), 'all batched events', {
    until: (r) => r.reduce((n, x) => n + (JSON.parse(x.body).type === 'batch' ? JSON.parse(x.body).data.events.length : 1), 0) >= 121,
  });
  const bodies = reqs.map((r) => JSON.parse(r.body));
  expect(bodies.filter((b) => b.type === 'batch').map((b) => b.data.events.length).sort((a, b) => b - a)).toEqual([50, 50, 20]);
  expect(bodies.filter((b) => b.type === 'task.status')).toHaveLength(1);
  for (const r of reqs) expect(() => new Webhook(ep.secret).verify(r.body, r.headers as Record<string, string>)).not.toThrow();
});
