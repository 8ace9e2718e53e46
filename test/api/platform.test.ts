import { parseJson } from '../../src/db/json';
import { createTenant, createTestEnv, createUserWithRole, uniqueName, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
let platform: string;
beforeAll(async () => {
  env = await createTestEnv('platform', { api: true });
  const { username, password } = env.config.auth.platformAdmin;
  platform = (await http('POST', `${env.url}/api/v1/platform/login`, { body: { username, password } })).body.access_token;
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });
const code = () => uniqueName('p').replace(/_/g, '-');

async function createWithAdmin(extra: Record<string, unknown> = {}) {
  const tenant_code = code();
  const res = await api('POST', '/platform/tenants', platform, {
    tenant_code,
    tenant_name: 'Acme',
    max_accounts: 5,
    max_daily_messages: 500,
    admin: { username: 'boss', email: 'boss@acme.test', password: 'long enough secret' },
    ...extra,
  });
  expect(res.status).toBe(201);
  const loginRes = await http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code, username: 'boss', password: 'long enough secret' } });
  expect(loginRes.status).toBe(200);
  return { tenant: res.body.tenant, admin: res.body.admin_user, token: loginRes.body.access_token as string, refresh: loginRes.body.refresh_token as string, tenant_code };
}

test('platform admin creates a tenant with built-in roles and a first admin who can log in', async () => {
  const { tenant, admin, token } = await createWithAdmin({ timezone: 'Europe/Berlin', config: { locale: 'de' } });
  expect(tenant).toMatchObject({ tenant_name: 'Acme', status: 'active', max_accounts: 5, max_daily_messages: 500, timezone: 'Europe/Berlin', config: { locale: 'de' } });
  expect(admin.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['admin']);
  const roles = await api('GET', '/roles', token);
  expect(roles.body.data.map((r: { role_code: string }) => r.role_code).sort()).toEqual(['admin', 'operator', 'viewer']);
  const own = await api('GET', '/tenant', token);
  expect(own.body).toMatchObject({ id: tenant.id, max_accounts: 5 });

  const audit = await env.ctx.db('audit_logs').where({ tenant_id: tenant.id }).orderBy('id');
  expect(audit.map((a) => a.action)).toEqual(['tenant.create', 'user.create', 'auth.login']);
  expect(audit[0]).toMatchObject({ actor_type: 'platform', actor_id: env.config.auth.platformAdmin.username, target_id: tenant.id });
});

test('duplicate tenant codes are 409 and bad input names each field', async () => {
  const { tenant_code } = await createWithAdmin();
  const dup = await api('POST', '/platform/tenants', platform, { tenant_code, tenant_name: 'again' });
  expect(dup.status).toBe(409);
  expect(dup.body.error.details.field).toBe('body.tenant_code');

  const bad = await api('POST', '/platform/tenants', platform, { tenant_code: 'Bad Code!', timezone: 'Mars/Olympus', max_accounts: -1 });
  expect(bad.status).toBe(400);
  const fields = bad.body.error.details.fields.map((f: { field: string }) => f.field).sort();
  expect(fields).toEqual(['body.max_accounts', 'body.tenant_code', 'body.tenant_name', 'body.timezone']);
});

test('tenants list with status filter and cursor pagination; get and update quotas and settings', async () => {
  const made = [];
  for (let i = 0; i < 3; i++) made.push((await api('POST', '/platform/tenants', platform, { tenant_code: code(), tenant_name: `list ${i}` })).body.tenant);
  await api('POST', `/platform/tenants/${made[0].id}/suspend`, platform);

  const suspended = await api('GET', '/platform/tenants?status=suspended', platform);
  expect(suspended.body.data.map((t: { id: string }) => t.id)).toContain(made[0].id);
  expect(suspended.body.data.every((t: { status: string }) => t.status === 'suspended')).toBe(true);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await api('GET', `/platform/tenants?limit=2${cursor ? `&cursor=${cursor}` : ''}`, platform);
    expect(page.status).toBe(200);
    expect(page.body.data.length).toBeLessThanOrEqual(2);
    seen.push(...page.body.data.map((t: { id: string }) => t.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  expect(new Set(seen).size).toBe(seen.length);
  for (const t of made) expect(seen).toContain(t.id);

  const upd = await api('PATCH', `/platform/tenants/${made[1].id}`, platform, {
    max_accounts: 42,
    max_daily_messages: 4200,
    plan: 'pro',
    contact_email: 'ops@example.test',
    webhook_url: 'https://example.test/hook',
    config: { send_window: '09:00-21:00' },
  });
  expect(upd.status).toBe(200);
  expect(upd.body).toMatchObject({ max_accounts: 42, max_daily_messages: 4200, plan: 'pro', config: { send_window: '09:00-21:00' } });
  expect((await api('GET', `/platform/tenants/${made[1].id}`, platform)).body.max_accounts).toBe(42);
  const unknownField = await api('PATCH', `/platform/tenants/${made[1].id}`, platform, { status: 'active' });
  expect(unknownField.status).toBe(400);
  expect((await api('GET', '/platform/tenants/00000000-0000-0000-0000-000000000000', platform)).status).toBe(404);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: made[1].id, action: 'tenant.update' }).first();
  expect(parseJson<any>(audit.details, {}).changes.max_accounts).toBe(42);
});

test('a suspended tenant is refused on every call: JWT, API key, login and refresh; resume restores it', async () => {
  const { tenant, token, refresh, tenant_code } = await createWithAdmin();
  const key = (await api('POST', '/api-keys', token, { name: 'robot', permissions: ['users:read'] })).body.key;
  const suspend = await api('POST', `/platform/tenants/${tenant.id}/suspend`, platform);
  expect(suspend.status).toBe(200);
  expect(suspend.body.status).toBe('suspended');

  const calls = [
    await api('GET', '/users', token),
    await api('PATCH', '/tenant', token, { tenant_name: 'x' }),
    await api('GET', '/auth/me', token),
    await http('GET', `${env.url}/api/v1/users`, { headers: { 'x-api-key': key } }),
    await http('GET', `${env.url}/api/v1/users`, { token: key }),
    await http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code, username: 'boss', password: 'long enough secret' } }),
    await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: refresh } }),
  ];
  for (const res of calls) {
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('tenant_suspended');
  }
  const again = await api('POST', `/platform/tenants/${tenant.id}/suspend`, platform);
  expect(again.status).toBe(409);
  expect(again.body.error).toMatchObject({ code: 'invalid_state_transition', details: { current_state: 'suspended' } });

  expect((await api('POST', `/platform/tenants/${tenant.id}/resume`, platform)).body.status).toBe('active');
  expect((await api('GET', '/users', token)).status).toBe(200);
  expect((await http('GET', `${env.url}/api/v1/users`, { headers: { 'x-api-key': key } })).status).toBe(200);
  const actions = (await env.ctx.db('audit_logs').where({ tenant_id: tenant.id, actor_type: 'platform' })).map((a) => a.action);
  expect(actions).toEqual(expect.arrayContaining(['tenant.suspend', 'tenant.resume']));
});

test('a deleted tenant is gone for every call, keeps its row, and cannot be resumed', async () => {
  const { tenant, token, refresh, tenant_code } = await createWithAdmin();
  const key = (await api('POST', '/api-keys', token, { name: 'robot', permissions: ['users:read'] })).body.key;
  const del = await api('DELETE', `/platform/tenants/${tenant.id}`, platform);
  expect(del.status).toBe(200);
  expect(del.body.status).toBe('deleted');

  expect((await api('GET', '/users', token)).status).toBe(401);
  expect((await http('GET', `${env.url}/api/v1/users`, { headers: { 'x-api-key': key } })).status).toBe(401);
  const loginRes = await http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code, username: 'boss', password: 'long enough secret' } });
  expect(loginRes.status).toBe(401);
  expect(loginRes.body.error.code).toBe('invalid_credentials');
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: refresh } })).status).toBe(401);

  expect((await api('POST', `/platform/tenants/${tenant.id}/resume`, platform)).status).toBe(409);
  expect((await api('PATCH', `/platform/tenants/${tenant.id}`, platform, { tenant_name: 'zombie' })).status).toBe(409);
  expect((await api('GET', `/platform/tenants/${tenant.id}`, platform)).body.status).toBe('deleted');
  expect(await env.ctx.db('users').where({ tenant_id: tenant.id })).toHaveLength(1);
});

test('tenant self-service: admins edit own settings but not quotas; viewers only read', async () => {
  const t = await createTenant(env);
  const viewer = await createUserWithRole(env, t, 'viewer');
  const quota = await api('PATCH', '/tenant', t.adminToken, { tenant_name: 'Renamed', max_accounts: 999 });
  expect(quota.status).toBe(403);
  expect(quota.body.error).toMatchObject({ code: 'platform_only_field', details: { fields: ['body.max_accounts'] } });

  const ok = await api('PATCH', '/tenant', t.adminToken, { tenant_name: 'Renamed', timezone: 'UTC', config: { a: 1 } });
  expect(ok.status).toBe(200);
  expect(ok.body).toMatchObject({ tenant_name: 'Renamed', timezone: 'UTC', config: { a: 1 } });
  const badTz = await api('PATCH', '/tenant', t.adminToken, { timezone: 'Nowhere/Land' });
  expect(badTz.body.error.details.fields[0].field).toBe('body.timezone');

  expect((await api('GET', '/tenant', viewer.token)).body.tenant_name).toBe('Renamed');
  const denied = await api('PATCH', '/tenant', viewer.token, { tenant_name: 'Mine' });
  expect(denied.status).toBe(403);
  expect(denied.body.error).toMatchObject({ code: 'forbidden', details: { permission: 'tenant:write' } });
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'tenant.update' });
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({ actor_type: 'user', actor_id: t.adminId });
});

test('platform routes need the platform admin', async () => {
  expect((await http('GET', `${env.url}/api/v1/platform/tenants`)).status).toBe(401);
  const t = await createTenant(env);
  const res = await api('POST', '/platform/tenants', t.adminToken, { tenant_code: code(), tenant_name: 'sneaky' });
  expect(res.status).toBe(403);
});

test('platform audit log lists actions across tenants and filters by tenant', async () => {
  const { tenant } = await createWithAdmin();
  const res = await api('GET', `/platform/audit-logs?tenant_id=${tenant.id}&action=tenant.*`, platform);
  expect(res.status).toBe(200);
  expect(res.body.data.map((a: { action: string }) => a.action)).toEqual(['tenant.create']);
  // Each entry names its tenant's code, so the console shows which tenant without a look-up per row.
  expect(res.body.data[0]).toMatchObject({ tenant_id: tenant.id, tenant_code: tenant.tenant_code });
});
