import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * Issue 8, finding 8: access tokens survived a password reset for up to their 15 minutes. Each token
 * carries the operator's token version, checked on every request; a reset raises it.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('pwreset', { api: true });
});
afterAll(() => env.close());

const me = (token: string) => http('GET', `${env.url}/api/v1/auth/me`, { token });
const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;

test('a password reset ends every access token issued before it, at once', async () => {
  const t = await createTenant(env);
  const op = await createUserWithRole(env, t, 'operator');
  const username = (await env.ctx.db('users').where({ id: op.userId }).first()).username as string;
  const session = await http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username, password: 'correct horse battery' } });
  for (const token of [op.token, session.body.access_token]) expect((await me(token)).status).toBe(200);

  expect((await http('POST', `${env.url}/api/v1/users/${op.userId}/reset-password`, { token: t.adminToken, body: { password: 'a brand new password' } })).status).toBe(200);
  for (const token of [op.token, session.body.access_token]) {
    const res = await me(token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
  }
  const fresh = await http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username, password: 'a brand new password' } });
  expect(fresh.status).toBe(200);
  expect((await me(fresh.body.access_token)).status).toBe(200);
  // Refreshed tokens carry the current version too.
  const refreshed = await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: fresh.body.refresh_token } });
  expect((await me(refreshed.body.access_token)).status).toBe(200);
});

test('a deactivated and re-activated operator does not get its old tokens back', async () => {
  const t = await createTenant(env);
  const op = await createUserWithRole(env, t, 'viewer');
  expect((await http('POST', `${env.url}/api/v1/users/${op.userId}/deactivate`, { token: t.adminToken })).status).toBe(200);
  expect((await http('POST', `${env.url}/api/v1/users/${op.userId}/activate`, { token: t.adminToken })).status).toBe(200);
  expect((await me(op.token)).status).toBe(401);
});
