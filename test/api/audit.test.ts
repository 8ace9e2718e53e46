import { createTenant, createTestEnv, createUserWithRole, type TestEnv } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('audit', { api: true });
});
afterAll(() => env.close());

const api = (method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>) =>
  http(method, `${env.url}/api/v1${path}`, { token, body, headers });

test('state-changing actions are recorded with who, what, target, when and from where', async () => {
  const t = await createTenant(env);
  const created = await api('POST', '/users', t.adminToken, { username: 'henry', email: 'henry@example.test', password: 'a long password' }, {
    'user-agent': 'audit-test/1.0',
    'x-request-id': 'req-audit-1',
  });
  const res = await api('GET', `/audit-logs?target_id=${created.body.id}`, t.adminToken);
  expect(res.status).toBe(200);
  expect(res.body.data).toHaveLength(1);
  const row = res.body.data[0];
  expect(row).toMatchObject({
    tenant_id: t.tenantId,
    actor_type: 'user',
    actor_id: t.adminId,
    action: 'user.create',
    target_type: 'user',
    target_id: created.body.id,
    user_agent: 'audit-test/1.0',
    request_id: 'req-audit-1',
    details: { username: 'henry', email: 'henry@example.test', roles: [] },
  });
  expect(row.ip).toMatch(/127\.0\.0\.1/);
  expect(Date.parse(row.created_at)).not.toBeNaN();
  expect(JSON.stringify(row)).not.toContain('a long password');
});

test('filters (action, prefix, target, actor, time window) and cursor pagination', async () => {
  const t = await createTenant(env);
  const before = new Date(Date.now() - 1000).toISOString();
  const ids: string[] = [];
  for (const n of ['ivy1', 'ivy2', 'ivy3']) {
    ids.push((await api('POST', '/users', t.adminToken, { username: n, email: `${n}@example.test`, password: 'a long password' })).body.id);
  }
  await api('POST', `/users/${ids[0]}/deactivate`, t.adminToken);
  const key = (await api('POST', '/api-keys', t.adminToken, { name: 'k', permissions: ['users:write'] })).body;
  await http('DELETE', `${env.url}/api/v1/users/${ids[1]}`, { headers: { 'x-api-key': key.key } });

  const get = async (qs: string) => (await api('GET', `/audit-logs?${qs}`, t.adminToken)).body.data.map((r: { action: string }) => r.action);
  expect(await get('action=user.create')).toEqual(['user.create', 'user.create', 'user.create']);
  expect(await get('action=user.*')).toEqual(['user.delete', 'user.deactivate', 'user.create', 'user.create', 'user.create']);
  expect(await get(`target_type=api_key`)).toEqual(['api_key.create']);
  expect(await get(`target_id=${ids[0]}`)).toEqual(['user.deactivate', 'user.create']);
  expect(await get(`actor_id=${key.id}`)).toEqual(['user.delete']);
  expect(await get(`actor_type=api_key`)).toEqual(['user.delete']);
  expect(await get(`from=${encodeURIComponent(before)}&to=${encodeURIComponent(before)}`)).toEqual([]);
  expect(await get(`from=${encodeURIComponent(before)}`)).toHaveLength(6);
  expect(await get(`to=${encodeURIComponent(before)}`)).toEqual([]);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await api('GET', `/audit-logs?limit=4${cursor ? `&cursor=${cursor}` : ''}`, t.adminToken);
    seen.push(...page.body.data.map((r: { id: string }) => r.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  expect(seen).toHaveLength(6);
  expect(new Set(seen).size).toBe(6);

  const bad = await api('GET', '/audit-logs?from=yesterday&limit=0', t.adminToken);
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['query.from', 'query.limit']);
});

test('audit log needs audit:read and shows only the caller tenant', async () => {
  const a = await createTenant(env);
  const b = await createTenant(env);
  const mine = (await api('POST', '/roles', a.adminToken, { role_code: 'a-role', role_name: 'A', permissions: [] })).body;
  const theirs = (await api('POST', '/roles', b.adminToken, { role_code: 'b-role', role_name: 'B', permissions: [] })).body;
  const viewer = await createUserWithRole(env, a, 'viewer');
  expect((await api('GET', '/audit-logs', viewer.token)).status).toBe(403);
  const rows = (await api('GET', '/audit-logs?limit=200', a.adminToken)).body.data;
  // Tenant A sees its own role.create, and nothing of B's (whose role.create exists).
  expect(rows.filter((r: { action: string }) => r.action === 'role.create').map((r: { target_id: string }) => r.target_id)).toEqual([mine.id]);
  expect(rows.every((r: { tenant_id: string }) => r.tenant_id === a.tenantId)).toBe(true);
  expect(await env.ctx.db('audit_logs').where({ tenant_id: b.tenantId, action: 'role.create', target_id: theirs.id })).toHaveLength(1);
});
