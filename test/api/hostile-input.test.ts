import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator';

/**
 * Walks /openapi.json and sends hostile values to every body and query field of every route (wrong
 * types, huge and empty strings, lone surrogates, deep nesting, out-of-range numbers and dates, unknown
 * fields), plus hostile whole bodies and headers. Fails on any 5xx, and on any row written by a refused
 * request (every table of the test database is counted before and after each refused write request).
 *
 * Each field is probed inside an otherwise valid body (hand-written for the routes whose bodies need
 * real ids, generated from the schema for the rest), so a hostile value reaches the handler, the
 * repository and the database rather than stopping at a sibling field's error.
 */
jest.setTimeout(300_000); // ~40 s on a quiet machine; the margin is for a shared one

type Schema = Record<string, any>;
type Probe = { label: string; method: string; path: string; query?: string; body?: string; headers?: Record<string, string> };

let env: TestEnv;
let sim: TestSimulator;
let tenant: TestTenant;
let platformToken: string;
let doc: { paths: Record<string, Record<string, any>>; components?: { schemas?: Record<string, Schema> } };
const ids: Record<string, string> = {};

const GATEWAY_KEY = 'hostile-gateway-key';

beforeAll(async () => {
  sim = await startTestSimulator({ apiKey: GATEWAY_KEY, autoLogin: false });
  env = await createTestEnv('hostile', {
    api: true,
    env: { GATEWAY_URL: sim.url, GATEWAY_API_KEY: GATEWAY_KEY, LOGIN_RATE_LIMIT_PER_MINUTE: '1000000', LOG_LEVEL: 'silent' },
  });
  tenant = await createTenant(env, { maxAccounts: 3 });
  const { username, password } = env.config.auth.platformAdmin;
  platformToken = (await http('POST', `${env.url}/api/v1/platform/login`, { body: { username, password } })).body.access_token;
  doc = (await http('GET', `${env.url}/openapi.json`)).body;

  // Real resources for the path ids, so probes reach the code behind the lookups. Routes that could
  // disable the caller act on victims, never on the probing admin or tenant.
  const make = async (path: string, body: unknown, token = tenant.adminToken) => {
    const res = await http('POST', `${env.url}/api/v1${path}`, { token, body });
    if (res.status >= 300) throw new Error(`setup ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  ids.account = (await make('/accounts', { account_name: 'probe account' })).id;
  ids.template = (await make('/templates', { name: 'probe template', content: { type: 'text', text: 'hi {{n}}' }, variables: [{ name: 'n' }] })).id;
  ids.task = (await make('/tasks', { name: 'probe task', account_ids: [ids.account], content: { type: 'text', text: 'hi' }, target_type: 'manual', targets: [{ conversation_id: 'c1' }] })).id;
  ids.role = (await make('/roles', { role_code: 'probe_role', role_name: 'Probe', permissions: ['tasks:read'] })).id;
  ids.apiKey = (await make('/api-keys', { name: 'probe key', permissions: ['tasks:read'] })).id;
  ids.user = (await createUserWithRole(env, tenant, 'viewer')).userId;
  ids.tenant = (await make('/platform/tenants', { tenant_code: 'probe-victim', tenant_name: 'Victim' }, platformToken)).tenant.id;
});
afterAll(async () => {
  await env?.close();
  await sim?.close();
});

// --- schema walking -------------------------------------------------------------------------------

function deref(s: Schema | undefined): Schema {
  let cur = s ?? {};
  for (let i = 0; cur.$ref && i < 10; i++) cur = doc.components?.schemas?.[String(cur.$ref).split('/').pop()!] ?? {};
  if (cur.allOf) return Object.assign({}, ...cur.allOf.map(deref), { ...cur, allOf: undefined });
  return cur;
}

/** A plausible valid value for a schema (required properties only for objects). */
function sample(raw: Schema | undefined, name = ''): unknown {
  const s = deref(raw);
  const options = s.oneOf ?? s.anyOf;
  if (options) return sample(options.find((o: Schema) => deref(o).type !== 'null') ?? options[0], name);
  if (s.enum) return s.enum[0];
  if (s.default !== undefined) return s.default;
  switch (s.type) {
    case 'string': {
      if (s.format === 'uuid') return /account/.test(name) ? ids.account : /template/.test(name) ? ids.template : randomUUID();
      if (s.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      if (s.format === 'email') return 'probe@example.test';
      if (s.format === 'uri') return 'https://example.test/x';
      const min = s.minLength ?? 1;
      return 'probe'.padEnd(min, 'x').slice(0, s.maxLength ?? 100);
    }
    case 'integer':
    case 'number':
      return Math.min(Math.max(1, s.minimum ?? 1), s.maximum ?? 1);
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: Math.max(1, s.minItems ?? 0) }, () => sample(s.items, name));
    default: {
      if (s.type && s.type !== 'object') return null;
      const out: Record<string, unknown> = {};
      for (const key of s.required ?? []) out[key] = sample(s.properties?.[key], key);
      return out;
    }
  }
}

/** Valid bodies for the routes whose generated sample would be refused for other reasons (real ids, cross-field rules). */
function validBody(method: string, path: string): unknown {
  const t = { type: 'text', text: 'hi' };
  const known: Record<string, unknown> = {
    'post /api/v1/accounts': { account_name: 'probe' },
    'post /api/v1/api-keys': { name: 'k', permissions: ['tasks:read'] },
    'post /api/v1/auth/login': { tenant_code: 'nobody', username: 'nobody', password: 'wrong password' },
    'post /api/v1/platform/login': { username: 'nobody', password: 'wrong password' },
    'post /api/v1/auth/refresh': { refresh_token: 'x'.repeat(43) },
    'post /api/v1/auth/logout': { refresh_token: 'x'.repeat(43) },
    'post /api/v1/platform/tenants': { tenant_code: 'probe-new', tenant_name: 'P' },
    'post /api/v1/roles': { role_code: 'probe_new', role_name: 'P', permissions: ['tasks:read'] },
    'post /api/v1/users': { username: 'probe_new', email: 'p@example.test', password: 'long enough secret' },
    'put /api/v1/users/{id}/roles': { role_ids: [ids.role] },
    'post /api/v1/users/{id}/reset-password': { password: 'another long secret' },
    'post /api/v1/templates': { name: 'probe new', content: { type: 'text', text: 'hi {{n}}' }, variables: [{ name: 'n' }] },
    'post /api/v1/templates/{id}/preview': { variables: { n: 'x' } },
    'post /api/v1/tasks': { name: 'p', account_ids: [ids.account], content: t, target_type: 'manual', targets: [{ conversation_id: 'c1' }] },
    'post /api/v1/messages': { account_id: ids.account, conversation_id: 'c1', content: t },
    'post /api/v1/accounts/{id}/verify': { code: '123456' },
    'put /api/v1/callbacks/wecom/config': { corp_id: 'ww1', token: 'Tok3n', encoding_aes_key: 'a'.repeat(43) },
    'post /api/v1/callbacks/events/redrive': { ids: [randomUUID()] },
  };
  return known[`${method} ${path}`] ?? (method === 'patch' ? {} : undefined);
}

function pathWithIds(path: string, method: string): string {
  return path.replace(/\{(\w+)\}/g, (_m, param: string) => {
    if (method === 'delete') return randomUUID(); // deletes run on nothing: the resources must outlive the walk
    if (param === 'tenantId') return tenant.tenantId;
    const seg = path.split('/').slice(-3).join('/');
    if (path.startsWith('/api/v1/platform/tenants/')) return ids.tenant;
    if (seg.includes('accounts/{id}')) return ids.account;
    if (seg.includes('templates/{id}')) return ids.template;
    if (seg.includes('tasks/{id}')) return ids.task;
    if (seg.includes('users/{id}')) return ids.user;
    if (seg.includes('roles/{id}')) return ids.role;
    if (seg.includes('api-keys/{id}')) return ids.apiKey;
    return randomUUID();
  });
}

// --- hostile values ---------------------------------------------------------------------------------

const nest = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

const HOSTILE_VALUES: Array<[string, unknown]> = [
  ['integer', 12345],
  ['negative', -1],
  ['huge number', 1e308],
  ['unsafe integer', 2 ** 53 + 1],
  ['fraction', 0.5],
  ['true', true],
  ['null', null],
  ['array', ['x']],
  ['object', { x: 1 }],
  ['empty string', ''],
  ['huge string', 'x'.repeat(20_000)],
  ['lone surrogate', 'a\ud800b'],
  ['NUL and controls', 'a\u0000\u001b\r\nb'],
  ['deep nesting', nest(100)],
  ['date past 9999', '9999-12-31T23:59:59-14:00'],
  ['date before 1000', '0001-01-01T00:00:00Z'],
  ['impossible date', '2026-02-30T25:61:00Z'],
  ['nil uuid', '00000000-0000-0000-0000-000000000000'],
];
/** Past the type check one wrong type stands for all: string fields get one number, number fields one string. */
const NUMBER_ONLY = new Set(['negative', 'huge number', 'unsafe integer', 'fraction']);
const STRING_ONLY = new Set(['NUL and controls', 'date past 9999', 'date before 1000', 'impossible date', 'nil uuid']);
function hostileFor(schema: Schema | undefined): Array<[string, unknown]> {
  const type = deref(schema).type;
  if (type === 'string') return HOSTILE_VALUES.filter(([label]) => !NUMBER_ONLY.has(label));
  if (type === 'integer' || type === 'number') return HOSTILE_VALUES.filter(([label]) => !STRING_ONLY.has(label));
  return HOSTILE_VALUES;
}

/** One level down (fields of objects and array items) a shorter list keeps the walk fast. */
const NESTED_LABELS = new Set(['integer', 'null', 'object', 'empty string', 'huge string', 'lone surrogate', 'deep nesting', 'date past 9999']);
const HOSTILE_NESTED = HOSTILE_VALUES.filter(([label]) => NESTED_LABELS.has(label));

const HOSTILE_QUERY: Array<[string, string]> = [
  ['empty', ''],
  ['huge', 'x'.repeat(6000)],
  ['invalid utf-8', '%ED%A0%80'],
  ['NUL', '%00'],
  ['negative', '-1'],
  ['overflow', '1e309'],
  ['huge integer', '99999999999999999999'],
  ['NaN', 'NaN'],
  ['date past 9999', encodeURIComponent('9999-12-31T23:59:59-14:00')],
  ['extended year', encodeURIComponent('+275760-09-13T00:00:00Z')],
];

function probesFor(method: string, path: string, op: any): Probe[] {
  const probes: Probe[] = [];
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  const queryParams: string[] = (op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name);
  const validQuery = (op.parameters ?? [])
    .filter((p: any) => p.in === 'query' && p.required)
    .map((p: any) => `${p.name}=${encodeURIComponent(String(sample(p.schema, p.name)))}`);
  const q = (extra: string[] = []) => [...validQuery, ...extra].join('&');
  const json = { 'content-type': 'application/json' };

  if (bodySchema) {
    const base = (validBody(method, path) ?? sample(bodySchema)) as Record<string, unknown>;
    const s = deref(bodySchema);
    const fields = Object.keys(s.properties ?? {});
    for (const field of fields) {
      for (const [label, value] of hostileFor(s.properties[field])) probes.push({ label: `body.${field}: ${label}`, method, path, body: JSON.stringify({ ...base, [field]: value }), headers: json });
      // One level down: the fields of objects and of array items (targets, filter, send_strategy, admin…).
      const inner = deref(deref(s.properties[field]).type === 'array' ? deref(s.properties[field]).items : s.properties[field]);
      const isArray = deref(s.properties[field]).type === 'array';
      for (const sub of Object.keys(inner.properties ?? {})) {
        const template = (isArray ? (Array.isArray(base[field]) ? (base[field] as unknown[])[0] : undefined) : base[field]) ?? sample(inner);
        for (const [label, value] of HOSTILE_NESTED) {
          const obj = { ...(template as object), [sub]: value };
          probes.push({ label: `body.${field}.${sub}: ${label}`, method, path, body: JSON.stringify({ ...base, [field]: isArray ? [obj] : obj }), headers: json });
        }
      }
    }
    const wholeBodies: Array<[string, string, Record<string, string>?]> = [
      ['unknown fields', JSON.stringify({ ...base, __probe: 'x', 'k\ud800': 1, constructor: { prototype: { polluted: true } } })],
      ['__proto__ key', `{"__proto__":{"polluted":true},${JSON.stringify(base).slice(1)}`],
      ['array body', '[]'],
      ['string body', '"x"'],
      ['number body', '1'],
      ['null body', 'null'],
      ['invalid JSON', '{"a":'],
      ['20,000 deep', `${'['.repeat(20_000)}${']'.repeat(20_000)}`],
      ['unsupported charset', JSON.stringify(base), { 'content-type': 'application/json; charset=latin9' }],
      ['unsupported encoding', JSON.stringify(base), { 'content-type': 'application/json', 'content-encoding': 'x-squash' }],
      ['gzip that is not gzip', JSON.stringify(base), { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
      ['forged X-Forwarded-For', JSON.stringify(base), { 'content-type': 'application/json', 'x-forwarded-for': `${'1234:'.repeat(12)}1` }],
    ];
    for (const [label, body, headers] of wholeBodies) probes.push({ label: `body: ${label}`, method, path, body, headers: headers ?? json });
  } else if (method !== 'get') {
    probes.push({ label: 'body: unexpected JSON', method, path, body: '{"x":"\\ud800"}', headers: json });
    probes.push({ label: 'body: 20,000 deep', method, path, body: `${'['.repeat(20_000)}${']'.repeat(20_000)}`, headers: json });
  }
  for (const name of queryParams) {
    for (const [label, value] of HOSTILE_QUERY) probes.push({ label: `query.${name}: ${label}`, method, path, query: q([`${name}=${value}`]) });
    probes.push({ label: `query.${name}: repeated`, method, path, query: q([`${name}=a`, `${name}=b`]) });
    probes.push({ label: `query.${name}: bracketed`, method, path, query: q([`${name}[a]=1`]) });
  }
  probes.push({ label: 'query: unknown field', method, path, query: q(['__probe=%ED%A0%80']) });
  probes.push({ label: 'header: forged X-Forwarded-For', method, path, query: q(), headers: { 'x-forwarded-for': 'x'.repeat(60) } });
  return probes;
}

// --- the walk -------------------------------------------------------------------------------------------

let countSql: string | undefined;
/** Rows of every table of the test database, in one round trip. */
async function rowCounts(): Promise<Record<string, number>> {
  if (!countSql) {
    const tables: string[] = (await env.ctx.db('information_schema.tables').where({ table_schema: env.config.db.database, table_type: 'BASE TABLE' }).pluck('table_name')).filter(
      (t: string) => !t.startsWith('knex_'),
    );
    countSql = `SELECT ${tables.map((t) => `(SELECT COUNT(*) FROM \`${t}\`) AS \`${t}\``).join(', ')}`;
  }
  const [rows] = await env.ctx.db.raw(countSql);
  return Object.fromEntries(Object.entries(rows[0] as Record<string, unknown>).map(([k, v]) => [k, Number(v)]));
}

function tokenFor(path: string): string | undefined {
  if (!path.startsWith('/api/v1/') || path === '/api/v1/auth/login' || path === '/api/v1/platform/login') return undefined;
  return path.startsWith('/api/v1/platform/') ? platformToken : tenant.adminToken;
}

test('every route answers hostile input with a 4xx (never a 5xx) and a refused request writes nothing', async () => {
  const started = Date.now();
  const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));
  // Deletes last: they act on random ids anyway, but nothing should run after a resource might be gone.
  routes.sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));
  const serverErrors: string[] = [];
  const writesByRefused: string[] = [];
  const statuses = new Map<number, number>();
  let sent = 0;

  const send = async (path: string, method: string, probe: Probe) => {
    const url = `${env.url}${pathWithIds(path, method)}${probe.query ? `?${probe.query}` : ''}`;
    const token = tokenFor(path);
    const headers: Record<string, string> = { ...(probe.headers ?? {}), ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await request(url, { method: method.toUpperCase() as 'GET', headers, body: probe.body });
    const text = await res.body.text();
    sent++;
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    const where = `${method.toUpperCase()} ${path} [${probe.label}]`;
    if (res.statusCode >= 500) serverErrors.push(`${where} → ${res.statusCode} ${text.slice(0, 160)}`);
    let code: string | undefined;
    try {
      code = JSON.parse(text)?.error?.code;
    } catch {
      /* not JSON */
    }
    return { status: res.statusCode, code, where };
  };
  // Refusals that record themselves on purpose: a failed login (401) or wrong current password (422
  // wrong_password) is an audited guess; 423 and 429 are the lock and the rate limit.
  const mustNotWrite = (r: { status: number; code?: string }) => r.status >= 400 && ![401, 423, 429].includes(r.status) && r.code !== 'wrong_password';
  const grownTables = (before: Record<string, number>, after: Record<string, number>) => Object.keys(after).filter((t) => after[t] > (before[t] ?? 0));

  // Probes go eight at a time. For writes, the tables are counted around each batch: a batch whose
  // requests were all refused must leave every count as it was. A batch with an accepted request (which
  // may write) has its refused requests sent again one by one, each between two counts.
  const BATCH = 8;
  const routeMs: Array<[string, number]> = [];
  for (const { path, method, op } of routes) {
    const routeStarted = Date.now();
    const probes = probesFor(method, path, op);
    for (let i = 0; i < probes.length; i += BATCH) {
      const batch = probes.slice(i, i + BATCH);
      const before = method === 'get' ? undefined : await rowCounts();
      const results = await Promise.all(batch.map((p) => send(path, method, p)));
      if (!before) continue;
      if (results.every(mustNotWrite)) {
        const grown = grownTables(before, await rowCounts());
        if (grown.length) writesByRefused.push(`${results.map((r) => r.where).join(' | ')} → all refused, rows written in ${grown.join(', ')}`);
        continue;
      }
      for (const [k, r] of results.entries()) {
        if (!mustNotWrite(r)) continue;
        const one = await rowCounts();
        const again = await send(path, method, batch[k]);
        if (!mustNotWrite(again)) continue;
        const grown = grownTables(one, await rowCounts());
        if (grown.length) writesByRefused.push(`${again.where} → ${again.status} wrote rows in ${grown.join(', ')}`);
      }
    }
    routeMs.push([`${method.toUpperCase()} ${path}`, Date.now() - routeStarted]);
  }

  console.log(
    `hostile-input walk: ${routes.length} routes, ${sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; slowest routes ${routeMs
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([r, ms]) => `${r} ${ms} ms`)
      .join(', ')}`,
  );
  expect(routes.length).toBeGreaterThan(80);
  expect(serverErrors).toEqual([]);
  expect(writesByRefused).toEqual([]);
});
