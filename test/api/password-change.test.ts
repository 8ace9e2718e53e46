import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';
import { waitFor } from '../helpers/wait';

/**
 * Issue 8, finding 8 (the "change" half): an operator changing its own password ends every other
 * session at once, and the current password is guarded by the login lockout budget.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('pwchange', { api: true, env: { LOGIN_MAX_FAILURES: '3' } });
});
afterAll(() => env.close());

const tenantCode = async (t: TestTenant) => (await env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
const login = async (t: TestTenant, password: string) => http('POST', `${env.url}/api/v1/auth/login`, { body: { tenant_code: await tenantCode(t), username: t.username, password } });
const me = (token: string) => http('GET', `${env.url}/api/v1/auth/me`, { token });
const change = (token: string, current_password: string, new_password: string) =>
  http('POST', `${env.url}/api/v1/auth/password`, { token, body: { current_password, new_password } });

test('changing the password ends the other sessions (tokens, refresh, sockets) and returns a fresh pair', async () => {
  const t = await createTenant(env);
  const here = (await login(t, t.password)).body;
  const elsewhere = (await login(t, t.password)).body;
  const socket = await connectSocket(env.url, { token: elsewhere.access_token });
  let closedBy: string | undefined;
  socket.socket.on('disconnect', (r) => {
    closedBy = r;
  });

  const res = await change(here.access_token, t.password, 'my brand new password');
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ token_type: 'Bearer', user: { id: t.adminId } });
  expect((await me(res.body.access_token)).status).toBe(200);
  for (const token of [here.access_token, elsewhere.access_token, t.adminToken]) expect((await me(token)).status).toBe(401);
  for (const refresh_token of [here.refresh_token, elsewhere.refresh_token]) {
    expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token } })).status).toBe(401);
  }
  expect((await http('POST', `${env.url}/api/v1/auth/refresh`, { body: { refresh_token: res.body.refresh_token } })).status).toBe(200);
  await waitFor(() => closedBy === 'io server disconnect', 'socket of the other session closed', { timeoutMs: 5_000 });

  expect((await login(t, t.password)).status).toBe(401);
  expect((await login(t, 'my brand new password')).status).toBe(200);
  const audit = await env.ctx.db('audit_logs').where({ tenant_id: t.tenantId, action: 'user.password_change', target_id: t.adminId });
  expect(audit).toHaveLength(1);
});

test('a wrong current password is a 422 that counts toward the lockout; the session itself goes on', async () => {
  const t = await createTenant(env);
  const session = (await login(t, t.password)).body;
  for (let i = 0; i < 3; i++) {
    const wrong = await change(session.access_token, `not it ${i}`, 'another new password');
    expect(wrong.status).toBe(422);
    expect(wrong.body.error).toMatchObject({ code: 'wrong_password', details: { field: 'body.current_password' } });
  }
  // The budget is spent: even the right current password waits out the lock, and so do logins.
  expect((await change(session.access_token, t.password, 'another new password')).status).toBe(423);
  expect((await login(t, t.password)).status).toBe(423);
  expect((await me(session.access_token)).status).toBe(200);
});

test('API keys have no password to change; the new password must be long enough', async () => {
  const t = await createTenant(env);
  const key = (await http('POST', `${env.url}/api/v1/api-keys`, { token: t.adminToken, body: { name: 'k', permissions: ['*'] } })).body.key;
  const byKey = await http('POST', `${env.url}/api/v1/auth/password`, { headers: { 'x-api-key': key }, body: { current_password: 'x', new_password: 'long enough password' } });
  expect(byKey.status).toBe(403);
  expect(byKey.body.error.code).toBe('operator_required');
  const short = await change(t.adminToken, t.password, 'short');
  expect(short.status).toBe(400);
  expect(short.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(['body.new_password']);
});
