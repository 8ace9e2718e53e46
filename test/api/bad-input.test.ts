import { newId } from '../../src/db/ids';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';

/**
 * Each kind of bad input found answering 500 in the audit now gets a clean 4xx that names the field
 * (or header) at fault, and writes nothing. (Every route and field at once: hostile-input.test.ts.)
 */
let env: TestEnv;
let tenant: TestTenant;
let accountId: string;
const api = (p: string) => `${env.url}/api/v1${p}`;
const fieldsOf = (res: { body: any }) => (res.body?.error?.details?.fields ?? []).map((f: { field: string }) => f.field);
const count = async (table: string) => Number((await env.ctx.db(table).where({ tenant_id: tenant.tenantId }).count({ n: '*' }))[0].n);

beforeAll(async () => {
  env = await createTestEnv('badinput', { api: true });
  tenant = await createTenant(env);
  accountId = newId();
  await env.ctx.db('wework_accounts').insert({ id: accountId, tenant_id: tenant.tenantId, account_name: 'a1', guid: `g-${accountId}`, status: 'offline' });
});
afterAll(() => env.close());

describe('dates the database cannot hold are refused with the field named', () => {
  const FAR = ['9999-12-31T23:59:59-14:00', '9999-12-31T23:59:59.999-00:01', '0999-12-31T23:59:59Z'];

  test.each(FAR)('scheduled_time %s on a message and on a task', async (when) => {
    const before = { messages: await count('messages'), tasks: await count('batch_send_tasks') };
    const msg = await http('POST', api('/messages'), {
      token: tenant.adminToken,
      body: { account_id: accountId, conversation_id: 'c1', content: { type: 'text', text: 'hi' }, scheduled_time: when },
    });
    expect(msg.status).toBe(400);
    expect(fieldsOf(msg)).toEqual(['body.scheduled_time']);
    const task = await http('POST', api('/tasks'), {
      token: tenant.adminToken,
      body: { name: 't', account_ids: [accountId], content: { type: 'text', text: 'hi' }, target_type: 'manual', targets: [{ conversation_id: 'c1' }], scheduled_time: when },
    });
    expect(task.status).toBe(400);
    expect(fieldsOf(task)).toEqual(['body.scheduled_time']);
    expect({ messages: await count('messages'), tasks: await count('batch_send_tasks') }).toEqual(before);
  });

  test('a far scheduled time the database holds is kept exactly', async () => {
    const msg = await http('POST', api('/messages'), {
      token: tenant.adminToken,
      body: { account_id: accountId, conversation_id: 'c1', content: { type: 'text', text: 'hi' }, scheduled_time: '9999-12-31T09:00:00-14:00' },
    });
    expect(msg.status).toBe(202);
    const row = await env.ctx.db('messages').where({ id: msg.body.id }).first();
    expect(new Date(row.scheduled_time).toISOString()).toBe('9999-12-31T23:00:00.000Z');
  });

  test('expires_at of an API key, task filters and every report range', async () => {
    const key = await http('POST', api('/api-keys'), { token: tenant.adminToken, body: { name: 'k', permissions: ['tasks:read'], expires_at: FAR[0] } });
    expect(key.status).toBe(400);
    expect(fieldsOf(key)).toEqual(['body.expires_at']);
    expect(await env.ctx.db('api_keys').where({ tenant_id: tenant.tenantId }).count({ n: '*' })).toEqual([{ n: 0 }]);

    const filter = await http('POST', api('/tasks'), {
      token: tenant.adminToken,
      body: { name: 't', account_ids: [accountId], content: { type: 'text', text: 'hi' }, target_type: 'filter', filter: { last_message_after: FAR[0] } },
    });
    expect(filter.status).toBe(400);
    expect(fieldsOf(filter)).toEqual(['body.filter.last_message_after']);

    const q = encodeURIComponent(FAR[0]);
    for (const path of [`/messages?from=${q}`, `/reports/messages?to=${q}`, `/reports/accounts?from=${q}`, `/audit-logs?from=${q}`, `/callbacks/events?to=${q}`, '/audit-logs?to=%2B275760-09-13T00%3A00%3A00Z']) {
      const res = await http('GET', api(path), { token: tenant.adminToken });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(fieldsOf(res)[0]).toMatch(/^query\.(from|to)$/);
    }
  });
});

describe('lone surrogates and deep nesting', () => {
  test('a lone surrogate in any field or key is a 400 naming it, and nothing is written', async () => {
    const before = await count('message_templates');
    const name = await http('POST', api('/templates'), { token: tenant.adminToken, body: '{"name":"x\\ud800","content":{"type":"text","text":"hi"}}' });
    expect(name.status).toBe(400);
    expect(fieldsOf(name)).toEqual(['body.name']);
    const nested = await http('POST', api('/tasks'), {
      token: tenant.adminToken,
      body: `{"name":"t","account_ids":["${accountId}"],"content":{"type":"text","text":"hi"},"target_type":"manual","targets":[{"conversation_id":"c","variables":{"v":"\\udc00x"}}]}`,
    });
    expect(nested.status).toBe(400);
    expect(fieldsOf(nested)).toEqual(['body.targets.0.variables.v']);
    const key = await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: '{"config":{"k\\ud83d":1}}' });
    expect(key.status).toBe(400);
    expect(fieldsOf(key)[0]).toMatch(/^body\.config\.k/);
    const login = await http('POST', api('/auth/login'), { body: '{"tenant_code":"x","username":"\\ud800","password":"p"}' });
    expect(login.status).toBe(400);
    expect(fieldsOf(login)).toEqual(['body.username']);
    expect(await count('message_templates')).toBe(before);
    // A well-formed pair (an emoji) is ordinary text.
    const emoji = await http('POST', api('/templates'), { token: tenant.adminToken, body: '{"name":"ok \\ud83d\\ude00","content":{"type":"text","text":"hi"}}' });
    expect(emoji.status).toBe(201);
    expect(emoji.body.name).toBe('ok \u{1F600}');
  });

  test('JSON nested 20,000 deep is a 400, on the API and on login', async () => {
    const deep = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const tpl = await http('POST', api('/templates'), { token: tenant.adminToken, body: `{"name":"deep","content":${deep}}` });
    expect(tpl.status).toBe(400);
    expect(tpl.body.error.details.fields[0]).toMatchObject({ code: 'too_deep' });
    expect(tpl.body.error.details.fields[0].field).toMatch(/^body\.content(\.a)+$/);
    const arr = await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: `{"config":{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}` });
    expect(arr.status).toBe(400);
    const login = await http('POST', api('/auth/login'), { body: deep });
    expect(login.status).toBe(400);
  });
});

describe('headers', () => {
  test('an unsupported charset or Content-Encoding is 415 naming the header', async () => {
    const post = (headers: Record<string, string>) =>
      http('POST', api('/templates'), { token: tenant.adminToken, body: '{"name":"x","content":{"type":"text","text":"hi"}}', headers });
    const charset = await post({ 'content-type': 'application/json; charset=latin9' });
    expect(charset.status).toBe(415);
    expect(charset.body.error).toMatchObject({ code: 'unsupported_charset', details: { field: 'headers.content-type' } });
    const encoding = await post({ 'content-type': 'application/json', 'content-encoding': 'x-squash' });
    expect(encoding.status).toBe(415);
    expect(encoding.body.error).toMatchObject({ code: 'unsupported_content_encoding', details: { field: 'headers.content-encoding' } });
    const login = await http('POST', api('/auth/login'), { body: '{}', headers: { 'content-type': 'application/json; charset=ebcdic' } });
    expect(login.status).toBe(415);
  });

  test('an X-Forwarded-For that is not an IP list is a 400; a real one is used', async () => {
    const long = await http('POST', api('/templates'), {
      token: tenant.adminToken,
      body: { name: 'xff', content: { type: 'text', text: 'hi' } },
      headers: { 'x-forwarded-for': `${'1234:'.repeat(12)}1` },
    });
    expect(long.status).toBe(400);
    expect(fieldsOf(long)).toEqual(['headers.x-forwarded-for']);
    const garbage = await http('GET', api('/tenant'), { token: tenant.adminToken, headers: { 'x-forwarded-for': 'not an ip' } });
    expect(garbage.status).toBe(400);
    const real = await http('POST', api('/templates'), {
      token: tenant.adminToken,
      body: { name: 'xff ok', content: { type: 'text', text: 'hi' } },
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    expect(real.status).toBe(201);
    const audit = await env.ctx.db('audit_logs').where({ tenant_id: tenant.tenantId, action: 'template.create', target_id: real.body.id }).first();
    expect(audit.ip).toBe('203.0.113.7');
  });
});

describe('URLs are http(s) only', () => {
  test('webhook_url and avatar_url refuse javascript:, data: and file: URLs', async () => {
    const user = await createUserWithRole(env, tenant, 'viewer');
    for (const url of ['javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'file:///etc/passwd', 'JAVASCRIPT://x%0aalert(1)']) {
      const hook = await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: { webhook_url: url } });
      expect({ url, status: hook.status, fields: fieldsOf(hook) }).toEqual({ url, status: 400, fields: ['body.webhook_url'] });
      const avatar = await http('PATCH', api(`/users/${user.userId}`), { token: tenant.adminToken, body: { avatar_url: url } });
      expect({ url, status: avatar.status, fields: fieldsOf(avatar) }).toEqual({ url, status: 400, fields: ['body.avatar_url'] });
    }
    expect((await http('PATCH', api('/tenant'), { token: tenant.adminToken, body: { webhook_url: 'https://hooks.example.test/x' } })).status).toBe(200);
    expect((await http('PATCH', api(`/users/${user.userId}`), { token: tenant.adminToken, body: { avatar_url: 'http://cdn.example.test/a.png' } })).status).toBe(200);
    const row = await env.ctx.db('tenants').where({ id: tenant.tenantId }).first();
    expect(row.webhook_url).toBe('https://hooks.example.test/x');
  });
});

describe('Socket.IO handshake', () => {
  test('a token that is not a string is a plain "unauthorized", never internal error text', async () => {
    for (const token of [12345, { $gt: '' }, ['a', 'b'], true, null]) {
      const err: Error = await connectSocket(env.url, { token }).then(
        (s) => {
          s.close();
          return new Error('connected');
        },
        (e: Error) => e,
      );
      expect({ token, message: err.message }).toEqual({ token, message: 'unauthorized' });
    }
    const ok = await connectSocket(env.url, { token: tenant.adminToken });
    ok.close();
  });
});

describe('the work of one request is bounded (finding 9)', () => {
  test('more than 100 distinct placeholders in a content, or 100 variables per target, is a 400 naming the field', async () => {
    const text = Array.from({ length: 101 }, (_, i) => `{{v${i}}}`).join(' ');
    const many = await http('POST', api('/tasks'), {
      token: tenant.adminToken,
      body: { name: 't', account_ids: [accountId], content: { type: 'text', text }, target_type: 'manual', targets: [{ conversation_id: 'c1' }] },
    });
    expect(many.status).toBe(400);
    expect(fieldsOf(many)).toEqual(['body.content']);
    const template = await http('POST', api('/templates'), { token: tenant.adminToken, body: { name: 'many', content: { type: 'text', text } } });
    expect(template.status).toBe(400);
    const variables = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`v${i}`, 'x']));
    const wide = await http('POST', api('/tasks'), {
      token: tenant.adminToken,
      body: { name: 't', account_ids: [accountId], content: { type: 'text', text: 'hi' }, target_type: 'manual', targets: [{ conversation_id: 'c1', variables }] },
    });
    expect(wide.status).toBe(400);
    expect(fieldsOf(wide)).toEqual(['body.targets.0.variables']);
  });

  test('10,000 targets with 100 placeholders each are checked in one pass and missing values still named per target', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `v${i}`);
    const text = names.map((n) => `{{${n}}}`).join(' ');
    const all = Object.fromEntries(names.map((n) => [n, 'x']));
    const targets = Array.from({ length: 10_000 }, (_, i) => ({ conversation_id: `c${i}`, variables: i === 4321 ? { ...all, v7: null } : { v99: `t${i}` } }));
    const { v99: _omit, ...shared } = all;
    const res = await http('POST', api('/tasks'), {
      token: tenant.adminToken,
      body: { name: 'wide', account_ids: [accountId], content: { type: 'text', text }, variables: shared, target_type: 'manual', targets },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.details.targets).toEqual([{ index: 4321, missing: ['v7'] }]);
  });
});
