import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';

let env: TestEnv;
let t: TestTenant;
beforeAll(async () => {
  env = await createTestEnv('templates', { api: true });
  t = await createTenant(env);
});
afterAll(() => env.close());

const api = (p: string) => `${env.url}/api/v1${p}`;
const welcome = {
  name: 'welcome',
  category: 'onboarding',
  tags: ['vip', 'new'],
  content: { type: 'text', text: 'Hello {{name}}, your code is {{code}}' },
  variables: [
    { name: 'name', required: true, description: 'customer name' },
    { name: 'code', default: 'NONE' },
  ],
  preview_data: { name: 'Sample' },
};

test('create, get, list with filters and cursor, update, delete', async () => {
  // A tenant of its own: the list assertions count every template of the tenant.
  const t = await createTenant(env);
  const created = await http('POST', api('/templates'), { token: t.adminToken, body: welcome });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ name: 'welcome', type: 'text', category: 'onboarding', tags: ['vip', 'new'], is_active: true, usage_count: 0 });
  const id = created.body.id;
  for (let i = 0; i < 3; i += 1) {
    const r = await http('POST', api('/templates'), {
      token: t.adminToken,
      body: { name: `link-${i}`, content: { type: 'link', title: 'T {{x}}', url: 'https://e.test/{{x}}' }, variables: [{ name: 'x' }], tags: ['promo'] },
    });
    expect(r.status).toBe(201);
    expect(r.body.type).toBe('link');
  }
  expect((await http('GET', api(`/templates/${id}`), { token: t.adminToken })).body.name).toBe('welcome');

  const links = await http('GET', api('/templates?type=link&limit=2'), { token: t.adminToken });
  expect(links.body.data).toHaveLength(2);
  const rest = await http('GET', api(`/templates?type=link&limit=2&cursor=${links.body.next_cursor}`), { token: t.adminToken });
  expect(rest.body.data).toHaveLength(1);
  expect(rest.body.next_cursor).toBeNull();
  const byTag = await http('GET', api('/templates?tag=vip'), { token: t.adminToken });
  expect(byTag.body.data.map((x: any) => x.name)).toEqual(['welcome']);

  const patched = await http('PATCH', api(`/templates/${id}`), { token: t.adminToken, body: { is_active: false, category: 'x' } });
  expect(patched.status).toBe(200);
  expect(patched.body).toMatchObject({ is_active: false, category: 'x' });
  expect((await http('GET', api('/templates?is_active=false'), { token: t.adminToken })).body.data.map((x: any) => x.id)).toEqual([id]);

  const del = await http('DELETE', api(`/templates/${id}`), { token: t.adminToken });
  expect(del.status).toBe(204);
  expect((await http('GET', api(`/templates/${id}`), { token: t.adminToken })).status).toBe(404);
  const audit = await env.ctx.db('audit_logs').where({ target_id: id }).pluck('action');
  expect(audit.sort()).toEqual(['template.create', 'template.delete', 'template.update']);
});

test('q finds templates by part of the name, in keyset pages, within the tenant only; % and _ match themselves', async () => {
  const t = await createTenant(env);
  const other = await createTenant(env);
  const create = (tenant: TestTenant, name: string) => http('POST', api('/templates'), { token: tenant.adminToken, body: { name, content: { type: 'text', text: 'hi' } } });
  for (const name of ['Spring sale 1', 'spring sale 2', 'spring sale 3', 'autumn sale', '50% off', '50 off', 'a_b', 'axb']) expect((await create(t, name)).status).toBe(201);
  expect((await create(other, 'spring sale 9')).status).toBe(201);
  const names = async (query: string) => ((await http('GET', api(`/templates?${query}`), { token: t.adminToken })).body.data as Array<{ name: string }>).map((x) => x.name).sort();

  expect(await names('q=SPRING')).toEqual(['Spring sale 1', 'spring sale 2', 'spring sale 3']);
  const first = await http('GET', api('/templates?q=spring&limit=2'), { token: t.adminToken });
  expect(first.body.data).toHaveLength(2);
  const second = await http('GET', api(`/templates?q=spring&limit=2&cursor=${first.body.next_cursor}`), { token: t.adminToken });
  expect({ rows: second.body.data.length, next: second.body.next_cursor }).toEqual({ rows: 1, next: null });
  expect(new Set([...first.body.data, ...second.body.data].map((x: { name: string }) => x.name)).size).toBe(3);
  expect(await names(`q=${encodeURIComponent('50%')}`)).toEqual(['50% off']);
  expect(await names('q=a_b')).toEqual(['a_b']);
  expect(await names('q=nothing-like-it')).toEqual([]);
  const tooLong = await http('GET', api(`/templates?q=${'x'.repeat(101)}`), { token: t.adminToken });
  expect(tooLong.status).toBe(400);
  expect(tooLong.body.error.details.fields.map((f: { field: string }) => f.field)).toContain('query.q');
});

test('name is unique per tenant (409), not across tenants', async () => {
  const body = { ...welcome, name: 'dup' };
  expect((await http('POST', api('/templates'), { token: t.adminToken, body })).status).toBe(201);
  const again = await http('POST', api('/templates'), { token: t.adminToken, body });
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe('template_name_taken');
  const other = await createTenant(env);
  expect((await http('POST', api('/templates'), { token: other.adminToken, body })).status).toBe(201);
});

test('bad input: field errors, undeclared placeholders 422', async () => {
  const bad = await http('POST', api('/templates'), { token: t.adminToken, body: { name: '', content: { type: 'link', title: 'x' } } });
  expect(bad.status).toBe(400);
  const fields = bad.body.error.details.fields.map((f: any) => f.field);
  expect(fields).toEqual(expect.arrayContaining(['body.name', 'body.content.url']));
  const undeclared = await http('POST', api('/templates'), {
    token: t.adminToken,
    body: { name: 'u', content: { type: 'text', text: '{{a}} {{b}}' }, variables: [{ name: 'a' }] },
  });
  expect(undeclared.status).toBe(422);
  expect(undeclared.body.error).toMatchObject({ code: 'unknown_placeholders', details: { unknown_placeholders: ['b'] } });
});

test('preview renders with given variables or preview data; missing required is 422 naming them', async () => {
  const id = (await http('POST', api('/templates'), { token: t.adminToken, body: { ...welcome, name: 'pv' } })).body.id;
  const sample = await http('POST', api(`/templates/${id}/preview`), { token: t.adminToken, body: {} });
  expect(sample.body.content).toEqual({ type: 'text', text: 'Hello Sample, your code is NONE' });
  const given = await http('POST', api(`/templates/${id}/preview`), { token: t.adminToken, body: { variables: { name: '{{code}}', code: 7, zzz: 'x' } } });
  expect(given.body).toEqual({ content: { type: 'text', text: 'Hello {{code}}, your code is 7' }, unknown_placeholders: [], unused_variables: ['zzz'] });
  const missing = await http('POST', api(`/templates/${id}/preview`), { token: t.adminToken, body: { variables: { code: '1' } } });
  expect(missing.status).toBe(422);
  expect(missing.body.error).toMatchObject({ code: 'missing_variables', details: { missing: ['name'] } });
});

test('tenant isolation and permissions', async () => {
  const id = (await http('POST', api('/templates'), { token: t.adminToken, body: { ...welcome, name: 'iso' } })).body.id;
  const other = await createTenant(env);
  expect((await http('GET', api(`/templates/${id}`), { token: other.adminToken })).status).toBe(404);
  const before = (await http('GET', api(`/templates/${id}`), { token: t.adminToken })).body;
  expect((await http('PATCH', api(`/templates/${id}`), { token: other.adminToken, body: { category: 'h' } })).status).toBe(404);
  expect((await http('DELETE', api(`/templates/${id}`), { token: other.adminToken })).status).toBe(404);
  // The owner's template is untouched by the foreign update and delete.
  const after = await http('GET', api(`/templates/${id}`), { token: t.adminToken });
  expect(after.status).toBe(200);
  expect(after.body).toEqual(before);
  expect(after.body.category).toBe('onboarding');
  expect((await http('GET', api('/templates'), { token: other.adminToken })).body.data.map((x: any) => x.id)).not.toContain(id);
  const viewer = await createUserWithRole(env, t, 'viewer');
  expect((await http('GET', api(`/templates/${id}`), { token: viewer.token })).status).toBe(200);
  const denied = await http('POST', api('/templates'), { token: viewer.token, body: { ...welcome, name: 'v' } });
  expect(denied.status).toBe(403);
});
