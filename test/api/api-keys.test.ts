import { createHash } from 'node:crypto';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { assignRole } from '../../src/db/roles';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('apikeys', { api: true });
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });
const withKey = (method: string, path: string, key: string, body?: unknown) =>
  http(method, `${env.url}/api/v1${path}`, { headers: { 'x-api-key': key }, body });

test('the secret is shown once, stored only as sha256, and never listed', async () => {
  const t = await createTenant(env);
  const res = await api('POST', '/api-keys', t.adminToken, { name: 'crm sync', permissions: ['users:read'] });
  expect(res.status).toBe(201);
  const key: string = res.body.key;
  expect(key).toMatch(/^wwp_[A-Za-z0-9_-]{40,}$/);
  expect(res.body).toMatchObject({ name: 'crm sync', permissions: ['users:read'], key_prefix: key.slice(0, 12), revoked_at: null, created_by: t.adminId });

  const row = await env.ctx.db('api_keys').where({ id: res.body.id }).first();
  expect(row.key_hash).toBe(createHash('sha256').update(key).digest('hex'));
  expect(JSON.stringify(row)).not.toContain(key);

  const list = await api('GET', '/api-keys', t.adminToken);
  expect(list.body.data).toHaveLength(1);
  expect(list.body.data[0].key).toBeUndefined();
  expect(JSON.stringify(list.body)).not.toContain(key);
  expect((await api('GET', `/api-keys/${res.body.id}`, t.adminToken)).body.key).toBeUndefined();
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'api_key.create' }).first();
  expect(audit).toMatchObject({ actor_id: t.adminId, target_type: 'api_key', target_id: res.body.id });
  expect(JSON.stringify(audit.details)).not.toContain(key);
});

test('a key works as X-Api-Key or Bearer, only within its permissions, and its actions are audited as the key', async () => {
  const t = await createTenant(env);
  const created = (await api('POST', '/api-keys', t.adminToken, { name: 'bot', permissions: ['users:read', 'users:write'] })).body;
  expect((await withKey('GET', '/users', created.key)).status).toBe(200);
  expect((await http('GET', `${env.url}/api/v1/users`, { token: created.key })).status).toBe(200);
  const denied = await withKey('GET', '/roles', created.key);
  expect(denied.status).toBe(403);
  expect(denied.body.error.details.permission).toBe('roles:read');

  const made = await withKey('POST', '/users', created.key, { username: 'botmade', email: 'botmade@example.test', password: 'a long password' });
  expect(made.status).toBe(201);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'user.create', target_id: made.body.id }).first();
  expect(audit).toMatchObject({ actor_type: 'api_key', actor_id: created.id });
  const me = await withKey('GET', '/auth/me', created.key);
  expect(me.body).toMatchObject({ kind: 'api_key', id: created.id, api_key: { name: 'bot' }, permissions: ['users:read', 'users:write'] });
  // last_used_at is written after the response path (fire-and-forget), so wait for it.
  const lastUsed = await waitFor(async () => (await api('GET', `/api-keys/${created.id}`, t.adminToken)).body.last_used_at, 'the key’s last_used_at to be recorded');
  expect(Date.parse(lastUsed)).not.toBeNaN();
});

test('a key cannot get permissions its creator lacks; unknown permissions are named', async () => {
  const t = await createTenant(env);
  const keyAdminRole = (await api('POST', '/roles', t.adminToken, { role_code: 'key-admin', role_name: 'Keys', permissions: ['api_keys:read', 'api_keys:write', 'users:read'] })).body;
  const keyAdmin = await createUserWithRole(env, t, 'viewer');
  await assignRole(env.ctx.db, keyAdmin.userId, keyAdminRole.id, t.adminId);

  const beyond = await api('POST', '/api-keys', keyAdmin.token, { name: 'x', permissions: ['users:read', 'users:write'] });
  expect(beyond.status).toBe(403);
  expect(beyond.body.error).toMatchObject({ code: 'permission_escalation', details: { field: 'body.permissions', permissions: ['users:write'] } });
  const all = await api('POST', '/api-keys', keyAdmin.token, { name: 'x', permissions: ['*'] });
  expect(all.status).toBe(403);
  expect((await api('POST', '/api-keys', keyAdmin.token, { name: 'x', permissions: ['users:read'] })).status).toBe(201);

  const unknown = await api('POST', '/api-keys', t.adminToken, { name: 'x', permissions: ['users:read', 'nope:nope'] });
  expect(unknown.status).toBe(400);
  expect(unknown.body.error.details.fields[0].field).toBe('body.permissions[1]');
  const invalid = await api('POST', '/api-keys', t.adminToken, { permissions: [], expires_at: '2001-01-01T00:00:00Z' });
  expect(invalid.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.expires_at', 'body.name', 'body.permissions']);

  const viewer = await createUserWithRole(env, t, 'viewer');
  expect((await api('GET', '/api-keys', viewer.token)).status).toBe(403);
});

test('revoked and expired keys are refused with 401', async () => {
  const t = await createTenant(env);
  const k = (await api('POST', '/api-keys', t.adminToken, { name: 'temp', permissions: ['users:read'] })).body;
  const revoked = await api('DELETE', `/api-keys/${k.id}`, t.adminToken);
  expect(revoked.status).toBe(200);
  expect(revoked.body.revoked_at).not.toBeNull();
  const refused = await withKey('GET', '/users', k.key);
  expect(refused.status).toBe(401);
  expect(refused.body.error.code).toBe('invalid_api_key');
  expect((await api('DELETE', `/api-keys/${k.id}`, t.adminToken)).status).toBe(200);
  expect(await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'api_key.revoke' })).toHaveLength(1);
  expect((await api('GET', '/api-keys?status=revoked', t.adminToken)).body.data.map((x: { id: string }) => x.id)).toEqual([k.id]);
  expect((await api('GET', '/api-keys?status=active', t.adminToken)).body.data).toHaveLength(0);

  const soon = (await api('POST', '/api-keys', t.adminToken, { name: 'short', permissions: ['users:read'], expires_at: new Date(Date.now() + 3600_000).toISOString() })).body;
  expect((await withKey('GET', '/users', soon.key)).status).toBe(200);
  await env.ctx.db('api_keys').where({ id: soon.id }).update({ expires_at: new Date(Date.now() - 1000) });
  expect((await withKey('GET', '/users', soon.key)).status).toBe(401);
  expect((await withKey('GET', '/users', 'wwp_made-up-key')).status).toBe(401);
});
