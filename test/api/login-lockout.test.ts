import { hashPassword } from '../../src/auth/passwords';
import { assignRole } from '../../src/db/roles';
import { insertUser, recordFailedLogin } from '../../src/db/users';
import { afterFailedGuess } from '../../src/domain/login-lockout';
import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

/**
 * Issue 8, findings 2, 5 and 11: the lockout budget holds under concurrency, a lock blocks new logins
 * only (never the victim's live sessions), and it answers alike for real and unknown login names.
 */
const MAX = 5;
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('lockout', { api: true, env: { LOGIN_MAX_FAILURES: String(MAX), LOGIN_LOCK_SECONDS: '60', LOGIN_RATE_LIMIT_PER_MINUTE: '1000' } });
});
afterAll(() => env.close());

const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
const loginAs = (tenant_code: string, username: string, password: string) => http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code, username, password } });
const count = (statuses: number[], ...wanted: number[]) => statuses.filter((s) => wanted.includes(s)).length;

test('30 concurrent wrong passwords: exactly LOGIN_MAX_FAILURES are checked, the rest are refused unchecked', async () => {
  const t = await createTenant(env);
  const code = await tenantCode(t);
  const statuses = (await Promise.all(Array.from({ length: 30 }, (_, i) => loginAs(code, t.username, `wrong guess ${i}`)))).map((r) => r.status);
  expect({ checked: count(statuses, 401), refused: count(statuses, 423) }).toEqual({ checked: MAX, refused: 30 - MAX });
  expect(await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'auth.login_failed' })).toHaveLength(MAX);
  expect(await env.ctx.db('users').where({ id: t.adminId }).first()).toMatchObject({ status: 'locked', failed_login_count: MAX });
  expect((await loginAs(code, t.username, t.password)).status).toBe(423);
});

test('29 wrong + 1 right at once: only LOGIN_MAX_FAILURES checks; the right one succeeds only within the budget', async () => {
  const t = await createTenant(env);
  const code = await tenantCode(t);
  // A costly hash (as in production) keeps every check slower than all 30 reservations together.
  const slow = { ...env.config.auth, hashMemoryKib: 32768, hashTimeCost: 4 };
  const userId = await insertUser(env.ctx.db, { tenantId: t.tenantId, username: 'victim', email: 'victim@example.test', passwordHash: await hashPassword(slow, 'the right password') });
  await assignRole(env.ctx.db, userId, t.roleIds.admin, t.adminId);

  const passwords = [...Array.from({ length: 29 }, (_, i) => `wrong guess ${i}`), 'the right password'];
  const results = await Promise.all(passwords.map((p) => loginAs(code, 'victim', p)));
  const statuses = results.map((r) => r.status);
  expect(count(statuses, 401, 200)).toBe(MAX);
  expect(count(statuses, 423)).toBe(30 - MAX);
  const right = statuses[29];
  if (right === 423) {
    // The budget was spent before the right password's turn: it stays locked for the right password too.
    expect((await loginAs(code, 'victim', 'the right password')).status).toBe(423);
  } else {
    expect(right).toBe(200);
  }
});

test('a lock ends no live session: access token, refresh and the refreshed token keep working', async () => {
  const t = await createTenant(env);
  const code = await tenantCode(t);
  const session = (await loginAs(code, t.username, t.password)).body;
  for (let i = 0; i < MAX; i++) expect((await loginAs(code, t.username, 'attacker guess')).status).toBe(401);
  expect((await loginAs(code, t.username, t.password)).status).toBe(423);

  expect((await http('GET', `${env.url}/api/v1/auth/me`, { token: session.access_token })).status).toBe(200);
  const refreshed = await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: session.refresh_token } });
  expect(refreshed.status).toBe(200);
  expect((await http('GET', `${env.url}/api/v1/users`, { token: refreshed.body.access_token })).status).toBe(200);
  expect(await env.ctx.db('refresh_tokens').where({ user_id: t.adminId }).whereNull('revoked_at')).toHaveLength(1);

  // An unlock opens new logins again at once, and the session is still the same family.
  expect((await http('POST', `${env.url}/api/v1/users/${t.adminId}/unlock`, { token: refreshed.body.access_token })).status).toBe(200);
  expect((await loginAs(code, t.username, t.password)).status).toBe(200);
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: refreshed.body.refresh_token } })).status).toBe(200);
});

test('locked real and unknown login names answer alike, whatever the spelling', async () => {
  const t = await createTenant(env);
  const code = await tenantCode(t);
  const names: Array<[label: string, tenantCode: string, username: string]> = [
    ['real user', code, t.username],
    ['unknown user', code, 'ghost_operator'],
    ['unknown tenant', `no-such-${code}`, t.username],
  ];
  const answers: Record<string, { status: number; code: string; message: string; detailKeys: string[] }> = {};
  for (const [label, tc, username] of names) {
    for (let i = 0; i < MAX; i++) expect((await loginAs(tc, username, `wrong ${i}`)).status).toBe(401);
    // Another spelling the database treats as the same name shares the lock (upper case).
    const res = await loginAs(tc, username.toUpperCase(), label === 'real user' ? t.password : 'wrong again');
    answers[label] = { status: res.status, code: res.body.error.code, message: res.body.error.message, detailKeys: Object.keys(res.body.error.details).sort() };
    expect(res.body.error.details.retry_after_seconds).toBeGreaterThan(55);
  }
  expect(answers['unknown user']).toEqual(answers['real user']);
  expect(answers['unknown tenant']).toEqual(answers['real user']);
  expect(answers['real user']).toMatchObject({ status: 423, code: 'account_locked' });
});

test("a window's first failure landing after the failure that locked it leaves the lock and the count alone", async () => {
  const t = await createTenant(env);
  const policy = { maxFailures: MAX, lockSeconds: 60 };
  const now = new Date();
  // Attempts 2..MAX land first (MAX locks), attempt 1 last: its slower password check finished last.
  for (let attempt = 2; attempt <= MAX; attempt++) await recordFailedLogin(env.ctx.db, t.adminId, afterFailedGuess(attempt, policy, now));
  await recordFailedLogin(env.ctx.db, t.adminId, afterFailedGuess(1, policy, now));
  const row = await env.ctx.db('users').where({ id: t.adminId }).first();
  expect(row).toMatchObject({ status: 'locked', failed_login_count: MAX });
  expect(row.locked_until).not.toBeNull();
  // A window's first failure after an expired lock starts afresh.
  await env.ctx.db('users').where({ id: t.adminId }).update({ locked_until: new Date(Date.now() - 1000) });
  await recordFailedLogin(env.ctx.db, t.adminId, afterFailedGuess(1, policy, new Date()));
  expect(await env.ctx.db('users').where({ id: t.adminId }).first()).toMatchObject({ status: 'active', failed_login_count: 1, locked_until: null });
});
