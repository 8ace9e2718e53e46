import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/** Every tenant-owned resource is reached only through the caller's tenant: another tenant's id is 404. */
let env: TestEnv;
let a: TestTenant;
let b: TestTenant;
let bUser: { id: string };
let bRole: { id: string };
let bKey: { id: string; key: string };
let aUser: { id: string };

const api = (method: string, path: string, token: string, body?: unknown) => http(method, `${env.url}/api/v1${path}`, { token, body });

beforeAll(async () => {
  env = await createTestEnv('isolation', { api: true });
  a = await createTenant(env);
  b = await createTenant(env);
  bUser = (await api('POST', '/users', b.adminToken, { username: 'bob', email: 'bob@b.test', password: 'a long password', role_ids: [b.roleIds.viewer] })).body;
  bRole = (await api('POST', '/roles', b.adminToken, { role_code: 'b-custom', role_name: 'B custom', permissions: ['users:read'] })).body;
  bKey = (await api('POST', '/api-keys', b.adminToken, { name: 'b key', permissions: ['users:read'] })).body;
  aUser = (await api('POST', '/users', a.adminToken, { username: 'amy', email: 'amy@a.test', password: 'a long password' })).body;
});
afterAll(() => env.close());

test("tenant A cannot read, update or delete tenant B's users", async () => {
  const attempts = [
    await api('GET', `/users/${bUser.id}`, a.adminToken),
    await api('PATCH', `/users/${bUser.id}`, a.adminToken, { real_name: 'pwned' }),
    await api('PUT', `/users/${bUser.id}/roles`, a.adminToken, { role_ids: [] }),
    await api('POST', `/users/${bUser.id}/reset-password`, a.adminToken, { password: 'attacker password' }),
    await api('POST', `/users/${bUser.id}/deactivate`, a.adminToken),
    await api('POST', `/users/${bUser.id}/unlock`, a.adminToken),
    await api('DELETE', `/users/${bUser.id}`, a.adminToken),
  ];
  for (const res of attempts) {
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  }
  const list = await api('GET', '/users?limit=200', a.adminToken);
  expect(list.body.data.map((u: { id: string }) => u.id)).not.toContain(bUser.id);
  const stillThere = await api('GET', `/users/${bUser.id}`, b.adminToken);
  expect(stillThere.body).toMatchObject({ status: 'active', real_name: null });
  expect(stillThere.body.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['viewer']);
});

test("tenant A cannot read, update, delete or assign tenant B's roles", async () => {
  for (const res of [
    await api('GET', `/roles/${bRole.id}`, a.adminToken),
    await api('PATCH', `/roles/${bRole.id}`, a.adminToken, { permissions: [] }),
    await api('DELETE', `/roles/${bRole.id}`, a.adminToken),
  ]) {
    expect(res.status).toBe(404);
  }
  const assign = await api('PUT', `/users/${aUser.id}/roles`, a.adminToken, { role_ids: [bRole.id] });
  expect(assign.status).toBe(422);
  expect(assign.body.error.details).toMatchObject({ field: 'body.role_ids', role_ids: [bRole.id] });
  const list = await api('GET', '/roles', a.adminToken);
  expect(list.body.data.map((r: { id: string }) => r.id)).not.toContain(bRole.id);
  expect((await api('GET', `/roles/${bRole.id}`, b.adminToken)).body.permissions).toEqual(['users:read']);
});

test("tenant A cannot see or revoke tenant B's API keys, and B's key only sees B", async () => {
  expect((await api('GET', `/api-keys/${bKey.id}`, a.adminToken)).status).toBe(404);
  expect((await api('DELETE', `/api-keys/${bKey.id}`, a.adminToken)).status).toBe(404);
  expect((await api('GET', '/api-keys', a.adminToken)).body.data.map((k: { id: string }) => k.id)).not.toContain(bKey.id);
  const viaKey = await http('GET', `${env.url}/api/v1/users/${aUser.id}`, { headers: { 'x-api-key': bKey.key } });
  expect(viaKey.status).toBe(404);
  const bList = await http('GET', `${env.url}/api/v1/users?limit=200`, { headers: { 'x-api-key': bKey.key } });
  expect(bList.body.data.map((u: { id: string }) => u.id)).toEqual(expect.arrayContaining([bUser.id, b.adminId]));
  expect(bList.body.data.every((u: { tenant_id: string }) => u.tenant_id === b.tenantId)).toBe(true);
  expect((await api('GET', `/api-keys/${bKey.id}`, b.adminToken)).body.revoked_at).toBeNull();
});

test('a token cannot be pointed at another tenant', async () => {
  // The JWT's tenant must match the user's tenant; a forged pairing is rejected.
  const { signAccessToken } = await import('../../src/auth/access-tokens');
  const forged = signAccessToken(env.config.auth, { sub: a.adminId, tid: b.tenantId, kind: 'user' });
  expect((await api('GET', '/users', forged)).status).toBe(401);
  expect((await api('GET', '/tenant', a.adminToken)).body.id).toBe(a.tenantId);
});
