import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * Issue 8, finding 7: API keys die with their creator. A deleted operator's `*` key created a new
 * admin; a key must also not survive through keys it minted.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('keyrevoke', { api: true });
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });
const withKey = (method: string, path: string, key: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { headers: { 'x-api-key': key }, body });
const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;

/** A second administrator who logs in and creates a `*` key, which creates a `*` key of its own. */
async function adminWithKeys(t: TestTenant, name: string) {
  const user = await api('POST', '/users', t.adminToken, { username: name, email: `${name}@example.test`, password: 'admin password', role_ids: [t.roleIds.admin] });
  const session = await http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username: name, password: 'admin password' } });
  const key = await api('POST', '/api-keys', session.body.access_token, { name: `${name} key`, permissions: ['*'] });
  const child = await withKey('POST', '/api-keys', key.body.key, { name: `${name} child`, permissions: ['*'] });
  expect(child.status).toBe(201);
  for (const k of [key.body.key, child.body.key]) expect((await withKey('GET', '/users', k)).status).toBe(200);
  return { userId: user.body.id as string, key: key.body, child: child.body };
}

test.each(['delete', 'deactivate'] as const)('%s of an operator revokes its keys and the keys they created', async (action) => {
  const t = await createTenant(env);
  const admin2 = await adminWithKeys(t, `admin_${action}`);
  const bystander = (await api('POST', '/api-keys', t.adminToken, { name: 'kept', permissions: ['users:read'] })).body;

  const res = action === 'delete' ? await api('DELETE', `/users/${admin2.userId}`, t.adminToken) : await api('POST', `/users/${admin2.userId}/deactivate`, t.adminToken);
  expect(res.status).toBe(action === 'delete' ? 204 : 200);

  for (const k of [admin2.key.key, admin2.child.key]) {
    const refused = await withKey('POST', '/users', k, { username: 'backdoor', email: 'backdoor@example.test', password: 'backdoor password', role_ids: [t.roleIds.admin] });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_api_key');
  }
  expect(await env.ctx.db('users').where({ tenant_id: t.tenantId, username: 'backdoor' })).toHaveLength(0);
  expect((await withKey('GET', '/users', bystander.key)).status).toBe(200);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: `user.${action}`, target_id: admin2.userId }).first();
  const details = typeof audit.details === 'string' ? JSON.parse(audit.details) : audit.details;
  expect(details.api_keys_revoked.sort()).toEqual([admin2.key.id, admin2.child.id].sort());

  if (action === 'deactivate') {
    // Re-activating the operator does not bring its keys back.
    expect((await api('POST', `/users/${admin2.userId}/activate`, t.adminToken)).status).toBe(200);
    expect((await withKey('GET', '/users', admin2.key.key)).status).toBe(401);
  }
});

test('revoking a key revokes the keys it created, not its siblings', async () => {
  const t = await createTenant(env);
  const parent = (await api('POST', '/api-keys', t.adminToken, { name: 'parent', permissions: ['*'] })).body;
  const sibling = (await api('POST', '/api-keys', t.adminToken, { name: 'sibling', permissions: ['users:read'] })).body;
  const child = (await withKey('POST', '/api-keys', parent.key, { name: 'child', permissions: ['users:read'] })).body;
  const grandchild = (await withKey('POST', '/api-keys', child.key, { name: 'grandchild', permissions: ['users:read'] })).body;
  expect((await api('DELETE', `/api-keys/${parent.id}`, t.adminToken)).status).toBe(200);
  for (const k of [parent.key, child.key, grandchild.key]) expect((await withKey('GET', '/users', k)).status).toBe(401);
  expect((await withKey('GET', '/users', sibling.key)).status).toBe(200);
});
