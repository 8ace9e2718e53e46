import { createTenant, createTestEnv, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * Issue 8, finding 3: the login rate limit keyed on the raw tenant_code, so "beta ", " beta", "BETA" and
 * "béta" each got a fresh bucket while naming the same tenant. It keys on the resolved tenant now.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('loginrate', { api: true, env: { LOGIN_RATE_LIMIT_PER_MINUTE: '4', LOGIN_MAX_FAILURES: '100' } });
});
afterAll(() => env.close());

const attempt = (tenant_code: string, username: string) => http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code, username, password: 'wrong password' } });

test('spellings of one tenant code share one budget', async () => {
  const code = `beta${Date.now() % 1_000_000}`;
  const t = await createTenant(env, { code });
  const spellings = [code, ` ${code}`, code.toUpperCase(), code.replace('e', 'é'), `${code} `];
  const statuses: number[] = [];
  for (const spelling of spellings) statuses.push((await attempt(spelling, t.username)).status);
  expect(statuses).toEqual([401, 401, 401, 401, 429]);
});

test('another tenant from the same IP keeps its own budget', async () => {
  const a = await createTenant(env);
  const b = await createTenant(env);
  const codeOf = async (id: string) => (await env.ctx.db('tenants').where({ id }).first()).tenant_code as string;
  for (let i = 0; i < 4; i++) await attempt(await codeOf(a.tenantId), a.username);
  expect((await attempt(await codeOf(a.tenantId), a.username)).status).toBe(429);
  expect((await attempt(await codeOf(b.tenantId), b.username)).status).toBe(401);
});
