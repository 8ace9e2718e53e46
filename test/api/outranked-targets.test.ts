import { assignRole } from '../../src/db/roles';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * Issue 8, finding 1: nobody acts on an operator, API key or role holding permissions they lack. A
 * "helpdesk" role with only users:read + users:write could reset the tenant admin's password and log
 * in as the admin; it could also edit, deactivate or delete the admin.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('outranked', { api: true });
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });
const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
const login = async (t: TestTenant, username: string, password: string) =>
  http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username, password } });

async function userWithCustomRole(t: TestTenant, code: string, permissions: string[]) {
  const role = await api('POST', '/roles', t.adminToken, { role_code: code, role_name: code, permissions });
  expect(role.status).toBe(201);
  const user = await api('POST', '/users', t.adminToken, { username: `${code}_user`, email: `${code}@example.test`, password: 'helpdesk password', role_ids: [role.body.id] });
  expect(user.status).toBe(201);
  const session = await login(t, `${code}_user`, 'helpdesk password');
  expect(session.status).toBe(200);
  return { roleId: role.body.id as string, userId: user.body.id as string, token: session.body.access_token as string };
}

test('users:read + users:write cannot reset, edit, lock out, delete or re-role an operator holding more', async () => {
  const t = await createTenant(env);
  const helpdesk = await userWithCustomRole(t, 'helpdesk', ['users:read', 'users:write']);
  const operator = await createUserWithRole(env, t, 'operator');

  for (const target of [t.adminId, operator.userId]) {
    const attempts = [
      await api('POST', `/users/${target}/reset-password`, helpdesk.token, { password: 'taken over at last' }),
      await api('PATCH', `/users/${target}`, helpdesk.token, { email: 'attacker@example.test' }),
      await api('PUT', `/users/${target}/roles`, helpdesk.token, { role_ids: [helpdesk.roleId] }),
      await api('POST', `/users/${target}/deactivate`, helpdesk.token),
      await api('POST', `/users/${target}/unlock`, helpdesk.token),
      await api('DELETE', `/users/${target}`, helpdesk.token),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'target_outranks_caller', details: { target_type: 'user', target_id: target } });
    }
  }
  // Nothing changed: the admin still logs in with its own password, keeps its email, role and status.
  expect((await login(t, t.username, t.password)).status).toBe(200);
  expect((await login(t, t.username, 'taken over at last')).status).toBe(401);
  const admin = await api('GET', `/users/${t.adminId}`, t.adminToken);
  expect(admin.body).toMatchObject({ status: 'active', email: `${t.username}@example.test` });
  expect(admin.body.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['admin']);
  expect(await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, actor_id: helpdesk.userId }).where('action', 'like', 'user.%')).toHaveLength(0);
});

test('acting on an operator holding no more than the caller still works', async () => {
  const t = await createTenant(env);
  const helpdesk = await userWithCustomRole(t, 'helpdesk', ['users:read', 'users:write']);
  const plain = await api('POST', '/users', t.adminToken, { username: 'no_roles', email: 'no_roles@example.test', password: 'first password' });
  const peer = await api('POST', '/users', t.adminToken, { username: 'peer', email: 'peer@example.test', password: 'first password', role_ids: [helpdesk.roleId] });
  for (const target of [plain.body.id, peer.body.id]) {
    expect((await api('POST', `/users/${target}/reset-password`, helpdesk.token, { password: 'second password' })).status).toBe(200);
    expect((await api('PATCH', `/users/${target}`, helpdesk.token, { real_name: 'Renamed' })).status).toBe(200);
    expect((await api('POST', `/users/${target}/deactivate`, helpdesk.token)).status).toBe(200);
  }
  expect((await api('POST', `/users/${helpdesk.userId}/reset-password`, helpdesk.token, { password: 'my own new password' })).status).toBe(200);
});

test('a role held inactive still counts: its permissions come back when the role is switched on', async () => {
  const t = await createTenant(env);
  const helpdesk = await userWithCustomRole(t, 'helpdesk', ['users:read', 'users:write']);
  const strong = await api('POST', '/roles', t.adminToken, { role_code: 'strong', role_name: 'Strong', permissions: ['tasks:write'] });
  const target = await api('POST', '/users', t.adminToken, { username: 'dormant', email: 'dormant@example.test', password: 'first password', role_ids: [strong.body.id] });
  expect((await api('PATCH', `/roles/${strong.body.id}`, t.adminToken, { is_active: false })).status).toBe(200);
  const res = await api('POST', `/users/${target.body.id}/reset-password`, helpdesk.token, { password: 'second password' });
  expect(res.status).toBe(403);
  expect(res.body.error.details.permissions).toEqual(['tasks:write']);
});

test('an API key or role holding more than the caller cannot be revoked, edited or deleted by it', async () => {
  const t = await createTenant(env);
  const keyAdmin = await createUserWithRole(env, t, 'viewer');
  const keyRole = await api('POST', '/roles', t.adminToken, { role_code: 'key-admin', role_name: 'Keys', permissions: ['api_keys:read', 'api_keys:write', 'roles:read', 'roles:write'] });
  await assignRole(env.ctx.db, keyAdmin.userId, keyRole.body.id, t.adminId);

  const adminKey = await api('POST', '/api-keys', t.adminToken, { name: 'ci', permissions: ['*'] });
  const refused = await api('DELETE', `/api-keys/${adminKey.body.id}`, keyAdmin.token);
  expect(refused.status).toBe(403);
  expect(refused.body.error).toMatchObject({ code: 'target_outranks_caller', details: { target_type: 'api_key', permissions: ['*'] } });
  expect((await http('GET', `${env.url}/api/v1/users`, { headers: { 'x-api-key': adminKey.body.key } })).status).toBe(200);
  const own = await api('POST', '/api-keys', keyAdmin.token, { name: 'mine', permissions: ['users:read'] });
  expect((await api('DELETE', `/api-keys/${own.body.id}`, keyAdmin.token)).status).toBe(200);

  const senders = await api('POST', '/roles', t.adminToken, { role_code: 'senders', role_name: 'Senders', permissions: ['tasks:write', 'tasks:control'] });
  const edit = await api('PATCH', `/roles/${senders.body.id}`, keyAdmin.token, { role_name: 'Renamed' });
  expect(edit.status).toBe(403);
  expect(edit.body.error.code).toBe('target_outranks_caller');
  expect((await api('DELETE', `/roles/${senders.body.id}`, keyAdmin.token)).status).toBe(403);
  expect((await api('GET', `/roles/${senders.body.id}`, t.adminToken)).body.role_name).toBe('Senders');
});
