import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('users', { api: true });
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });
const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
const login = async (t: TestTenant, username: string, password: string) =>
  http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username, password } });

const newUser = (name: string, extra: Record<string, unknown> = {}) => ({
  username: name,
  email: `${name}@example.test`,
  password: 'a long password',
  real_name: 'Real Name',
  ...extra,
});

test('admin creates an operator with roles; it can log in with those permissions', async () => {
  const t = await createTenant(env);
  const res = await api('POST', '/users', t.adminToken, newUser('alice', { role_ids: [t.roleIds.operator] }));
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ username: 'alice', email: 'alice@example.test', status: 'active', tenant_id: t.tenantId });
  expect(res.body.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['operator']);
  expect(res.body.password_hash).toBeUndefined();
  const session = await login(t, 'alice', 'a long password');
  expect(session.status).toBe(200);
  const me = await api('GET', '/auth/me', session.body.access_token);
  expect(me.body.permissions).toContain('accounts:write');
  expect(me.body.permissions).not.toContain('users:write');

  const stored = await env.ctx.db('users').where({ id: res.body.id }).first();
  expect(stored.password_hash).toMatch(/^\$argon2id\$/);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'user.create', target_id: res.body.id }).first();
  expect(audit).toMatchObject({ actor_type: 'user', actor_id: t.adminId, target_type: 'user' });
});

test('usernames and emails are unique per tenant (409 naming the field), not across tenants', async () => {
  const t = await createTenant(env);
  const other = await createTenant(env);
  expect((await api('POST', '/users', t.adminToken, newUser('bob'))).status).toBe(201);
  const dupName = await api('POST', '/users', t.adminToken, newUser('bob', { email: 'other@example.test' }));
  expect(dupName.status).toBe(409);
  expect(dupName.body.error.details.field).toBe('body.username');
  const dupEmail = await api('POST', '/users', t.adminToken, newUser('bobby', { email: 'bob@example.test' }));
  expect(dupEmail.status).toBe(409);
  expect(dupEmail.body.error.details.field).toBe('body.email');
  expect((await api('POST', '/users', other.adminToken, newUser('bob'))).status).toBe(201);
});

test('validation errors name each field', async () => {
  const t = await createTenant(env);
  const res = await api('POST', '/users', t.adminToken, { username: 'has space', email: 'not-an-email', password: 'short', role_ids: 'admin' });
  expect(res.status).toBe(400);
  const fields = res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
  expect(fields).toEqual(['body.email', 'body.password', 'body.role_ids', 'body.username']);
});

test('role ids must belong to the tenant, and nobody grants more than they hold', async () => {
  const t = await createTenant(env);
  const other = await createTenant(env);
  const foreign = await api('POST', '/users', t.adminToken, newUser('carol', { role_ids: [other.roleIds.viewer] }));
  expect(foreign.status).toBe(422);
  expect(foreign.body.error).toMatchObject({ code: 'unknown_role', details: { field: 'body.role_ids', role_ids: [other.roleIds.viewer] } });

  // A user manager (users:read/write only) cannot hand out the admin role.
  const mgrRole = await api('POST', '/roles', t.adminToken, { role_code: 'user-mgr', role_name: 'User manager', permissions: ['users:read', 'users:write'] });
  const mgr = await api('POST', '/users', t.adminToken, newUser('mgr', { role_ids: [mgrRole.body.id] }));
  const mgrToken = (await login(t, 'mgr', 'a long password')).body.access_token;
  const escalate = await api('PUT', `/users/${mgr.body.id}/roles`, mgrToken, { role_ids: [t.roleIds.admin] });
  expect(escalate.status).toBe(403);
  expect(escalate.body.error).toMatchObject({ code: 'permission_escalation', details: { field: 'body.role_ids', permissions: ['*'] } });
  // It may create an operator holding exactly its own role.
  expect((await api('POST', '/users', mgrToken, newUser('dave', { role_ids: [mgrRole.body.id] }))).status).toBe(201);
});

test('viewers read users but cannot write them', async () => {
  const t = await createTenant(env);
  const viewer = await createUserWithRole(env, t, 'viewer');
  expect((await api('GET', '/users', viewer.token)).status).toBe(200);
  const denied = await api('POST', '/users', viewer.token, newUser('eve'));
  expect(denied.status).toBe(403);
  expect(denied.body.error).toMatchObject({ code: 'forbidden', details: { permission: 'users:write' } });
  expect((await api('DELETE', `/users/${t.adminId}`, viewer.token)).status).toBe(403);
});

test('list filters by status, prefix and role, with cursor pagination', async () => {
  const t = await createTenant(env);
  for (const n of ['zed1', 'zed2', 'zed3']) await api('POST', '/users', t.adminToken, newUser(n, { role_ids: [t.roleIds.viewer] }));
  const z3 = (await api('GET', '/users?q=zed3', t.adminToken)).body.data[0];
  await api('POST', `/users/${z3.id}/deactivate`, t.adminToken);

  const byRole = await api('GET', `/users?role_id=${t.roleIds.viewer}`, t.adminToken);
  expect(byRole.body.data.map((u: { username: string }) => u.username).sort()).toEqual(['zed1', 'zed2', 'zed3']);
  const inactive = await api('GET', '/users?status=inactive', t.adminToken);
  expect(inactive.body.data.map((u: { username: string }) => u.username)).toEqual(['zed3']);

  const page1 = await api('GET', '/users?limit=2', t.adminToken);
  expect(page1.body.data).toHaveLength(2);
  const page2 = await api('GET', `/users?limit=2&cursor=${page1.body.next_cursor}`, t.adminToken);
  expect(page2.body.data).toHaveLength(2);
  expect(page2.body.next_cursor).toBeNull();
  const all = [...page1.body.data, ...page2.body.data].map((u: { id: string }) => u.id);
  expect(new Set(all).size).toBe(4);
  expect((await api('GET', '/users?cursor=garbage', t.adminToken)).body.error.details.fields[0].field).toBe('query.cursor');
});

test('update, replace roles, reset password (ends sessions), deactivate and re-activate', async () => {
  const t = await createTenant(env);
  const u = (await api('POST', '/users', t.adminToken, newUser('frank', { role_ids: [t.roleIds.viewer] }))).body;
  const patched = await api('PATCH', `/users/${u.id}`, t.adminToken, { email: 'frank2@example.test', phone: '123' });
  expect(patched.body).toMatchObject({ email: 'frank2@example.test', phone: '123' });
  expect((await api('PATCH', `/users/${u.id}`, t.adminToken, { username: 'renamed' })).status).toBe(400);

  const roles = await api('PUT', `/users/${u.id}/roles`, t.adminToken, { role_ids: [t.roleIds.operator] });
  expect(roles.body.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['operator']);

  const session = (await login(t, 'frank', 'a long password')).body;
  const reset = await api('POST', `/users/${u.id}/reset-password`, t.adminToken, { password: 'brand new password' });
  expect(reset.status).toBe(200);
  expect((await login(t, 'frank', 'a long password')).status).toBe(401);
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: session.refresh_token } })).status).toBe(401);
  expect((await login(t, 'frank', 'brand new password')).status).toBe(200);

  expect((await api('POST', `/users/${u.id}/deactivate`, t.adminToken)).body.status).toBe('inactive');
  const unlockInactive = await api('POST', `/users/${u.id}/unlock`, t.adminToken);
  expect(unlockInactive.status).toBe(409);
  expect(unlockInactive.body.error.details.current_state).toBe('inactive');
  expect((await api('POST', `/users/${u.id}/activate`, t.adminToken)).body.status).toBe('active');
  const self = await api('POST', `/users/${t.adminId}/deactivate`, t.adminToken);
  expect(self.status).toBe(409);
  expect(self.body.error.code).toBe('cannot_target_self');
  const actions = (await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, target_id: u.id }).orderBy('id')).map((a) => a.action);
  expect(actions).toEqual(['user.create', 'user.update', 'user.roles_set', 'auth.login', 'user.password_reset', 'auth.login_failed', 'auth.login', 'user.deactivate', 'user.activate']);
});

test('deleting an operator marks it deleted, ends its sessions and hides it', async () => {
  const t = await createTenant(env);
  const u = (await api('POST', '/users', t.adminToken, newUser('gina', { role_ids: [t.roleIds.viewer] }))).body;
  const session = (await login(t, 'gina', 'a long password')).body;
  expect((await api('DELETE', `/users/${u.id}`, t.adminToken)).status).toBe(204);
  expect((await api('GET', `/users/${u.id}`, t.adminToken)).status).toBe(404);
  expect((await api('DELETE', `/users/${u.id}`, t.adminToken)).status).toBe(404);
  expect((await api('GET', '/auth/me', session.access_token)).status).toBe(401);
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: session.refresh_token } })).status).toBe(401);
  expect((await login(t, 'gina', 'a long password')).body.error.code).toBe('invalid_credentials');
  const row = await env.ctx.db('users').where({ id: u.id }).first();
  expect(row.status).toBe('deleted');
  const listed = await api('GET', '/users?status=deleted', t.adminToken);
  expect(listed.body.data.map((x: { id: string }) => x.id)).toEqual([u.id]);
});

test('the last administrator cannot be removed, deactivated or stripped of admin permissions', async () => {
  const t = await createTenant(env);
  const strip = await api('PUT', `/users/${t.adminId}/roles`, t.adminToken, { role_ids: [t.roleIds.viewer] });
  expect(strip.status).toBe(409);
  expect(strip.body.error.code).toBe('last_admin');
  expect((await api('GET', `/users/${t.adminId}`, t.adminToken)).body.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['admin']);

  // With a second admin, the first may step down.
  const second = (await api('POST', '/users', t.adminToken, newUser('second', { role_ids: [t.roleIds.admin] }))).body;
  const mgrRole = (await api('POST', '/roles', t.adminToken, { role_code: 'user-mgr', role_name: 'Users', permissions: ['users:read', 'users:write'] })).body;
  await api('POST', '/users', t.adminToken, newUser('mgr', { role_ids: [mgrRole.id] }));
  // A `*` API key may act on admins (it holds everything they hold) but is no administrator itself.
  const opsKey = (await api('POST', '/api-keys', t.adminToken, { name: 'ops', permissions: ['*'] })).body.key as string;
  const asKey = (method: string, path: string) => http(method, `${env.url}/api/v1${path}`, { headers: { 'x-api-key': opsKey } });
  expect((await api('PUT', `/users/${t.adminId}/roles`, t.adminToken, { role_ids: [t.roleIds.viewer] })).status).toBe(200);

  // Now `second` is the only admin: nobody can deactivate or delete it (a user manager is not even allowed to try).
  const mgrToken = (await login(t, 'mgr', 'a long password')).body.access_token;
  for (const [method, path] of [['POST', `/users/${second.id}/deactivate`], ['DELETE', `/users/${second.id}`]] as const) {
    const res = await asKey(method, path);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('last_admin');
    expect((await api(method, path, mgrToken)).body.error.code).toBe('target_outranks_caller');
  }
  expect((await env.ctx.db('users').where({ id: second.id }).first()).status).toBe('active');

  // Admin rights through a custom `*` role count too, and disabling that role is refused when it is the last source.
  const secondToken = (await login(t, 'second', 'a long password')).body.access_token;
  const superRole = (await api('POST', '/roles', secondToken, { role_code: 'super', role_name: 'Super', permissions: ['*'] })).body;
  await api('PUT', `/users/${t.adminId}/roles`, secondToken, { role_ids: [superRole.id] });
  expect((await asKey('POST', `/users/${second.id}/deactivate`)).status).toBe(200);
  const disable = await api('PATCH', `/roles/${superRole.id}`, t.adminToken, { is_active: false });
  expect(disable.status).toBe(409);
  expect(disable.body.error.code).toBe('last_admin');
  expect((await api('GET', `/roles/${superRole.id}`, t.adminToken)).body.is_active).toBe(true);
});
