import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * Issue 8, finding 4: `trust proxy` trusted every private range, so any client on the compose bridge
 * could forge X-Forwarded-For (per-IP login limit bypassed, forged IPs in the audit log). Only the
 * proxies named in TRUST_PROXY are believed; this test's client (127.0.0.1) is not one of them.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('trustproxy', { api: true, env: { TRUST_PROXY: '10.9.9.9', LOGIN_RATE_LIMIT_PER_MINUTE: '3' } });
});
afterAll(() => env.close());

const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
const loginFrom = async (t: TestTenant, forwardedFor: string, password = t.password) =>
  http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username: t.username, password }, headers: { 'x-forwarded-for': forwardedFor } });

test('a forged X-Forwarded-For from a client that is not a configured proxy is ignored in the audit log', async () => {
  const t = await createTenant(env);
  expect((await loginFrom(t, '203.0.113.7')).status).toBe(200);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'auth.login' }).first();
  expect(audit.ip).toMatch(/127\.0\.0\.1/);
  expect((await env.ctx.db('users').where({ id: t.adminId }).first()).last_login_ip).toMatch(/127\.0\.0\.1/);
});

test('rotating X-Forwarded-For does not buy fresh login budgets', async () => {
  const t = await createTenant(env);
  const statuses: number[] = [];
  for (let i = 1; i <= 4; i++) statuses.push((await loginFrom(t, `198.51.100.${i}`, 'wrong password')).status);
  expect(statuses).toEqual([401, 401, 401, 429]);
});
