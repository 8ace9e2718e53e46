import { createTenant, createTestEnv, createUserWithRole, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';
import { assignRole } from '../../src/db/roles';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('roles', { api: true });
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });

test('custom roles: create, read, update permissions (effective at once for holders), delete when unused', async () => {
  const t = await createTenant(env);
  const created = await api('POST', '/roles', t.adminToken, {
    role_code: 'auditor',
    role_name: 'Auditor',
    description: 'reads the audit log',
    permissions: ['audit:read', 'audit:read'],
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ role_code: 'auditor', permissions: ['audit:read'], is_system: false, is_active: true });
  expect((await api('GET', `/roles/${created.body.id}`, t.adminToken)).body.role_name).toBe('Auditor');

  const holder = await createUserWithRole(env, t, 'viewer');
  await assignRole(env.ctx.db, holder.userId, created.body.id, t.adminId);
  expect((await api('GET', '/audit-logs', holder.token)).status).toBe(200);
  expect((await api('GET', '/api-keys', holder.token)).status).toBe(403);

  const updated = await api('PATCH', `/roles/${created.body.id}`, t.adminToken, { permissions: ['audit:read', 'api_keys:read'] });
  expect(updated.body.permissions).toEqual(['audit:read', 'api_keys:read']);
  expect((await api('GET', '/api-keys', holder.token)).status).toBe(200);

  const disabled = await api('PATCH', `/roles/${created.body.id}`, t.adminToken, { is_active: false });
  expect(disabled.body.is_active).toBe(false);
  expect((await api('GET', '/audit-logs', holder.token)).status).toBe(403);

  const inUse = await api('DELETE', `/roles/${created.body.id}`, t.adminToken);
  expect(inUse.status).toBe(409);
  expect(inUse.body.error).toMatchObject({ code: 'role_in_use', details: { holders: 1 } });
  await api('PUT', `/users/${holder.userId}/roles`, t.adminToken, { role_ids: [t.roleIds.viewer] });
  expect((await api('DELETE', `/roles/${created.body.id}`, t.adminToken)).status).toBe(204);
  expect((await api('GET', `/roles/${created.body.id}`, t.adminToken)).status).toBe(404);

  const actions = (await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, target_type: 'role' }).orderBy('id')).map((a) => a.action);
  expect(actions).toEqual(['role.create', 'role.update', 'role.update', 'role.delete']);
});

test('unknown permission names are a 400 naming the entry; duplicate codes are 409', async () => {
  const t = await createTenant(env);
  const bad = await api('POST', '/roles', t.adminToken, { role_code: 'bad', role_name: 'Bad', permissions: ['users:read', 'users:fly'] });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields).toEqual([{ field: 'body.permissions[1]', message: 'unknown permission users:fly', code: 'unknown_permission' }]);
  const missing = await api('POST', '/roles', t.adminToken, { role_code: 'X' });
  expect(missing.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.permissions', 'body.role_code', 'body.role_name']);
  expect((await api('POST', '/roles', t.adminToken, { role_code: 'twice', role_name: 'A', permissions: [] })).status).toBe(201);
  const dup = await api('POST', '/roles', t.adminToken, { role_code: 'twice', role_name: 'B', permissions: [] });
  expect(dup.status).toBe(409);
  expect(dup.body.error.details.field).toBe('body.role_code');
  expect((await api('GET', '/permissions', t.adminToken)).body.permissions).toContain('messages:send');
});

test('built-in roles cannot be edited or deleted', async () => {
  const t = await createTenant(env);
  const edit = await api('PATCH', `/roles/${t.roleIds.viewer}`, t.adminToken, { permissions: ['users:write'] });
  expect(edit.status).toBe(409);
  expect(edit.body.error).toMatchObject({ code: 'system_role', details: { role_code: 'viewer' } });
  expect((await api('DELETE', `/roles/${t.roleIds.admin}`, t.adminToken)).body.error.code).toBe('system_role');
  const list = await api('GET', '/roles?is_system=true', t.adminToken);
  expect(list.body.data.map((r: { id: string }) => r.id)).toContain(t.roleIds.admin); // not vacuous: the built-in roles are listed
  expect(list.body.data.every((r: { is_system: boolean }) => r.is_system)).toBe(true);
  expect(list.body.data).toHaveLength(3);
});

test('viewers read roles but cannot write; a role manager cannot create roles beyond its own permissions', async () => {
  const t = await createTenant(env);
  const viewer = await createUserWithRole(env, t, 'viewer');
  expect((await api('GET', '/roles', viewer.token)).status).toBe(200);
  expect((await api('POST', '/roles', viewer.token, { role_code: 'mine', role_name: 'Mine', permissions: [] })).status).toBe(403);

  const mgrRole = (await api('POST', '/roles', t.adminToken, { role_code: 'role-mgr', role_name: 'Role manager', permissions: ['roles:read', 'roles:write'] })).body;
  const mgr = await createUserWithRole(env, t, 'viewer');
  await assignRole(env.ctx.db, mgr.userId, mgrRole.id, t.adminId);
  const escalate = await api('POST', '/roles', mgr.token, { role_code: 'sneaky', role_name: 'Sneaky', permissions: ['*'] });
  expect(escalate.status).toBe(403);
  expect(escalate.body.error).toMatchObject({ code: 'permission_escalation', details: { permissions: ['*'] } });
  expect((await api('POST', '/roles', mgr.token, { role_code: 'readers', role_name: 'Readers', permissions: ['users:read'] })).status).toBe(201);
});
