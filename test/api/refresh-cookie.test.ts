import { createTenant, createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
let t: TestTenant;
beforeAll(async () => {
  env = await createTestEnv('refreshcookie', { api: true });
  t = await createTenant(env);
});
afterAll(() => env.close());

const api = (p: string) => `${env.url}/api/v1${p}`;
const cookieOf = (headers: Record<string, unknown>) => {
  const raw = headers['set-cookie'];
  return ([] as string[]).concat((raw as string | string[] | undefined) ?? []).find((c) => c.startsWith('wwp_refresh='));
};
const valueOf = (setCookie: string) => setCookie.split(';')[0];

test("console session: the refresh token only in an HttpOnly SameSite=Strict cookie on the auth path, rotated on refresh, cleared on logout", async () => {
  const login = await http('POST', api('/auth/login'), { body: { tenant_code: t.username.replace(/^admin_/, ''), username: t.username, password: t.password, session: 'cookie' } });
  expect(login.status).toBe(200);
  expect(login.body.access_token).toBeTruthy();
  expect(login.body).not.toHaveProperty('refresh_token');
  const set = cookieOf(login.headers)!;
  expect(set).toMatch(/HttpOnly/i);
  expect(set).toMatch(/SameSite=Strict/i);
  expect(set).toMatch(/Path=\/api\/v1\/auth(;|$)/);
  expect(set).toMatch(/Expires=/);

  // Refresh with the cookie alone: a new access token, a new cookie, still no token in the body.
  const refreshed = await http('POST', api('/auth/refresh'), { body: {}, headers: { cookie: valueOf(set) } });
  expect(refreshed.status).toBe(200);
  expect(refreshed.body.access_token).toBeTruthy();
  expect(refreshed.body).not.toHaveProperty('refresh_token');
  const rotated = cookieOf(refreshed.headers)!;
  expect(valueOf(rotated)).not.toBe(valueOf(set));
  const me = await http('GET', api('/auth/me'), { token: refreshed.body.access_token });
  expect(me.body.user.username).toBe(t.username);

  // The old cookie was rotated away: replaying it revokes the login, and the answer clears the cookie.
  const replay = await http('POST', api('/auth/refresh'), { body: {}, headers: { cookie: valueOf(set) } });
  expect(replay.status).toBe(401);
  expect(cookieOf(replay.headers)).toMatch(/wwp_refresh=;/);
  expect((await http('POST', api('/auth/refresh'), { body: {}, headers: { cookie: valueOf(rotated) } })).status).toBe(401);
});

test('a cookie refresh must be a JSON request (no cross-site form); logout by cookie revokes it', async () => {
  const login = await http('POST', api('/auth/login'), { body: { tenant_code: t.username.replace(/^admin_/, ''), username: t.username, password: t.password, session: 'cookie' } });
  const cookie = valueOf(cookieOf(login.headers)!);
  const form = await http('POST', api('/auth/refresh'), { body: 'a=b', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' } });
  expect(form.status).toBe(400);
  expect(JSON.stringify(form.body)).toContain('content-type');
  const none = await http('POST', api('/auth/refresh'), { body: {} });
  expect(none.status).toBe(401);

  const out = await http('POST', api('/auth/logout'), { body: {}, headers: { cookie } });
  expect(out.status).toBe(204);
  expect(cookieOf(out.headers)).toMatch(/wwp_refresh=;/);
  expect((await http('POST', api('/auth/refresh'), { body: {}, headers: { cookie } })).status).toBe(401);

  // API clients are unchanged: the token in the body, no cookie.
  const plain = await http('POST', api('/auth/login'), { body: { tenant_code: t.username.replace(/^admin_/, ''), username: t.username, password: t.password } });
  expect(plain.body.refresh_token).toBeTruthy();
  expect(cookieOf(plain.headers)).toBeUndefined();
});
