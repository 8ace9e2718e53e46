import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { sleep } from '../helpers/wait';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('auth', {
    api: true,
    env: { LOGIN_MAX_FAILURES: '3', LOGIN_LOCK_SECONDS: '2', LOGIN_RATE_LIMIT_PER_MINUTE: '8' },
  });
});
afterAll(() => env.close());

const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
async function login(t: TestTenant, password = t.password, username = t.username) {
  return http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username, password } });
}
const userRow = (id: string) => env.ctx.db('users').where({ id }).first();

test('login returns an access token, a refresh token and the operator; records last login and an audit row', async () => {
  const t = await createTenant(env);
  const res = await login(t);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: env.config.auth.accessTokenTtl });
  expect(typeof res.body.access_token).toBe('string');
  expect(typeof res.body.refresh_token).toBe('string');
  expect(res.body.user).toMatchObject({ id: t.adminId, username: t.username, status: 'active' });
  expect(res.body.user.roles.map((r: { role_code: string }) => r.role_code)).toEqual(['admin']);
  expect(res.body.user.password_hash).toBeUndefined();

  const me = await http('GET', `${env.url}/api/v1/auth/me`, { token: res.body.access_token });
  expect(me.status).toBe(200);
  expect(me.body).toMatchObject({ kind: 'user', id: t.adminId, tenant: { id: t.tenantId }, permissions: ['*'] });

  const row = await userRow(t.adminId);
  expect(row.last_login_time).toBeInstanceOf(Date);
  expect(row.last_login_ip).toMatch(/127\.0\.0\.1/);
  const stored = await env.ctx.db('refresh_tokens').where({ user_id: t.adminId });
  expect(stored).toHaveLength(1);
  expect(stored[0].token_hash).not.toContain(res.body.refresh_token);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'auth.login' }).first();
  expect(audit).toMatchObject({ actor_type: 'user', actor_id: t.adminId, target_type: 'user', target_id: t.adminId });
  expect(audit.ip).toMatch(/127\.0\.0\.1/);
});

test('wrong password, unknown user and unknown tenant give the same 401', async () => {
  const t = await createTenant(env);
  const wrong = await login(t, 'not the password');
  const unknownUser = await login(t, t.password, 'nobody_here');
  const unknownTenant = await http('POST', `${env.url}/api/v1/auth/login`, {
    body: { tenant_code: 'no-such-tenant-x', username: t.username, password: t.password },
  });
  for (const res of [wrong, unknownUser, unknownTenant]) {
    expect(res.status).toBe(401);
    expect(res.body).toEqual(wrong.body);
  }
  expect(wrong.body.error.code).toBe('invalid_credentials');
  expect((await userRow(t.adminId)).failed_login_count).toBe(1);
});

test('login validation errors name each bad field', async () => {
  const res = await http('POST', `${env.url}/api/v1/auth/login`, { body: { username: '', password: 5 } });
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('validation_error');
  const fields = res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
  expect(fields).toEqual(['body.password', 'body.tenant_code', 'body.username']);
});

test('after N failures new logins are locked (423 even with the right password) until locked_until passes', async () => {
  const t = await createTenant(env);
  for (let i = 0; i < 3; i++) expect((await login(t, 'bad password')).status).toBe(401);
  const locked = await userRow(t.adminId);
  expect(locked.status).toBe('locked');
  expect(locked.failed_login_count).toBe(3);
  expect(locked.locked_until.getTime()).toBeGreaterThan(Date.now());

  const refused = await login(t);
  expect(refused.status).toBe(423);
  expect(refused.body.error.code).toBe('account_locked');
  expect(refused.body.error.details.retry_after_seconds).toBeGreaterThan(0);
  const lockAudit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'user.locked', target_id: t.adminId });
  expect(lockAudit).toHaveLength(1);

  // A lock blocks new logins only: tokens issued before it keep working (test/api/login-lockout.test.ts).
  expect((await http('GET', `${env.url}/api/v1/auth/me`, { token: t.adminToken })).status).toBe(200);
  // The lock runs out with time: wait until just past locked_until.
  await sleep(Math.max(0, locked.locked_until.getTime() - Date.now()) + 100);
  const ok = await login(t);
  expect(ok.status).toBe(200);
  const after = await userRow(t.adminId);
  expect(after).toMatchObject({ status: 'active', failed_login_count: 0, locked_until: null });
});

test('an admin unlocks a locked operator; a successful login resets the failure count', async () => {
  const t = await createTenant(env);
  const op = await createUserWithRole(env, t, 'operator');
  const opRow = await userRow(op.userId);
  const asOp = (password: string) => login(t, password, opRow.username);
  expect((await asOp('bad password')).status).toBe(401);
  expect((await asOp('correct horse battery')).status).toBe(200);
  expect((await userRow(op.userId)).failed_login_count).toBe(0);

  for (let i = 0; i < 3; i++) await asOp('bad password');
  expect((await asOp('correct horse battery')).status).toBe(423);
  const unlock = await http('POST', `${env.url}/api/v1/users/${op.userId}/unlock`, { token: t.adminToken });
  expect(unlock.status).toBe(200);
  expect(unlock.body).toMatchObject({ status: 'active', failed_login_count: 0, locked_until: null });
  expect((await asOp('correct horse battery')).status).toBe(200);
});

test('refresh rotates the token; reusing a rotated token revokes the whole login', async () => {
  const t = await createTenant(env);
  const first = (await login(t)).body;
  const second = await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: first.refresh_token } });
  expect(second.status).toBe(200);
  expect(second.body.refresh_token).not.toBe(first.refresh_token);
  expect((await http('GET', `${env.url}/api/v1/auth/me`, { token: second.body.access_token })).status).toBe(200);

  const rows = await env.ctx.db('refresh_tokens').where({ user_id: t.adminId }).orderBy('created_at');
  expect(rows).toHaveLength(2);
  expect(rows[0].family_id).toBe(rows[1].family_id);
  expect(rows[0].replaced_by).toBe(rows[1].id);
  expect(rows[0].revoked_at).not.toBeNull();

  const replay = await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: first.refresh_token } });
  expect(replay.status).toBe(401);
  expect(replay.body.error.code).toBe('invalid_refresh_token');
  // The legitimately rotated token died with its family.
  const third = await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: second.body.refresh_token } });
  expect(third.status).toBe(401);
  expect(await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'auth.refresh_reuse_detected' })).toHaveLength(1);
});

test('logout revokes the refresh token (and its family) but not other logins', async () => {
  const t = await createTenant(env);
  const a = (await login(t)).body;
  const b = (await login(t)).body;
  const out = await http('POST', `${env.url}/api/v1/auth/logout`, { body: { refresh_token: a.refresh_token } });
  expect(out.status).toBe(204);
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: a.refresh_token } })).status).toBe(401);
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: b.refresh_token } })).status).toBe(200);
  expect(await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'auth.logout' })).toHaveLength(1);
  // Unknown tokens log out silently (nothing to reveal), bad bodies are 400.
  expect((await http('POST', `${env.url}/api/v1/auth/logout`, { body: { refresh_token: 'nope' } })).status).toBe(204);
  expect((await http('POST', `${env.url}/api/v1/auth/logout`, { body: {} })).status).toBe(400);
});

test('a deactivated operator cannot refresh or log in; deactivation ends its sessions', async () => {
  const t = await createTenant(env);
  const op = await createUserWithRole(env, t, 'viewer');
  const name = (await userRow(op.userId)).username;
  const session = (await login(t, 'correct horse battery', name)).body;
  expect((await http('POST', `${env.url}/api/v1/users/${op.userId}/deactivate`, { token: t.adminToken })).status).toBe(200);
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: session.refresh_token } })).status).toBe(401);
  expect((await http('GET', `${env.url}/api/v1/auth/me`, { token: session.access_token })).status).toBe(401);
  const again = await login(t, 'correct horse battery', name);
  expect(again.status).toBe(403);
  expect(again.body.error.code).toBe('account_inactive');
});

test('login is rate limited per IP and tenant with 429 and Retry-After', async () => {
  const t = await createTenant(env);
  const attempt = (code: string, i: number) =>
    http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: code, username: `nobody_${i}`, password: 'y' } });
  for (let i = 0; i < 8; i++) expect((await attempt(await tenantCode(t), i)).status).toBe(401);
  const limited = await attempt(await tenantCode(t), 8);
  expect(limited.status).toBe(429);
  expect(limited.body.error.code).toBe('rate_limited');
  expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  // Another tenant from the same IP has its own budget; the counter lives in Redis under the prefix.
  expect((await attempt(await tenantCode(await createTenant(env)), 0)).status).toBe(401);
  const keys = await env.ctx.redis.keys(`${env.config.redis.prefix}:ratelimit:login:*`);
  expect(keys.length).toBeGreaterThan(0);
});

test('platform admin login: constant credentials from config, platform token only for platform routes', async () => {
  const { username, password } = env.config.auth.platformAdmin;
  const bad = await http('POST', `${env.url}/api/v1/platform/login`, { body: { username, password: 'wrong-password' } });
  expect(bad.status).toBe(401);
  expect(bad.body.error.code).toBe('invalid_credentials');
  const ok = await http('POST', `${env.url}/api/v1/platform/login`, { body: { username, password } });
  expect(ok.status).toBe(200);
  const token = ok.body.access_token;
  expect((await http('GET', `${env.url}/api/v1/platform/tenants`, { token })).status).toBe(200);
  const inTenant = await http('GET', `${env.url}/api/v1/users`, { token });
  expect(inTenant.status).toBe(403);
  expect(inTenant.body.error.code).toBe('tenant_required');
  const t = await createTenant(env);
  expect((await http('GET', `${env.url}/api/v1/platform/tenants`, { token: t.adminToken })).status).toBe(403);
  expect((await http('GET', `${env.url}/api/v1/auth/me`, { token })).body).toMatchObject({ kind: 'platform', tenant: null });
});

test('every access-control route is documented in /openapi.json, login without a security requirement', async () => {
  const doc = (await http('GET', `${env.url}/openapi.json`)).body;
  const expected: Array<[string, string]> = [
    ['/api/v1/auth/login', 'post'],
    ['/api/v1/auth/refresh', 'post'],
    ['/api/v1/auth/logout', 'post'],
    ['/api/v1/auth/me', 'get'],
    ['/api/v1/platform/login', 'post'],
    ['/api/v1/platform/tenants', 'post'],
    ['/api/v1/platform/tenants/{id}/suspend', 'post'],
    ['/api/v1/tenant', 'patch'],
    ['/api/v1/users', 'get'],
    ['/api/v1/users/{id}/roles', 'put'],
    ['/api/v1/roles/{id}', 'delete'],
    ['/api/v1/api-keys', 'post'],
    ['/api/v1/audit-logs', 'get'],
  ];
  for (const [path, method] of expected) expect(doc.paths[path]?.[method]).toBeDefined();
  const loginOp = doc.paths['/api/v1/auth/login'].post;
  expect(loginOp.security).toEqual([]);
  expect(loginOp.requestBody.content['application/json'].schema.properties).toHaveProperty('tenant_code');
  expect(doc.paths['/api/v1/audit-logs'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
    expect.arrayContaining(['action', 'target_type', 'target_id', 'actor_id', 'from', 'to', 'cursor', 'limit']),
  );
  expect((await http('GET', `${env.url}/docs/`)).status).toBe(200);
});

test('concurrent bad passwords all count (the counter is updated under a row lock)', async () => {
  const t = await createTenant(env);
  const results = await Promise.all([1, 2, 3].map(() => login(t, 'bad password')));
  expect(results.map((r) => r.status)).toEqual([401, 401, 401]);
  expect(await userRow(t.adminId)).toMatchObject({ status: 'locked', failed_login_count: 3 });
});

test('two concurrent refreshes with one token: exactly one rotation wins', async () => {
  const t = await createTenant(env);
  const { refresh_token } = (await login(t)).body;
  const results = await Promise.all([1, 2].map(() => http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token } })));
  expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  const rows = await env.ctx.db('refresh_tokens').where({ user_id: t.adminId });
  expect(rows).toHaveLength(2);
});
