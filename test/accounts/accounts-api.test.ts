import { createTenant, createUserWithRole, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { connectSocket } from '../helpers/socket';
import { createAccount, startAccountsEnv, waitForStatus, type AccountsEnv } from './support';

/** Accounts REST API: CRUD, quota, permissions, tenant isolation of rows and of realtime events. */
let a: AccountsEnv;
let t: TestTenant;
let other: TestTenant;
beforeAll(async () => {
  a = await startAccountsEnv('acctapi');
  t = await createTenant(a.env, { maxAccounts: 3 });
  other = await createTenant(a.env, { maxAccounts: 3 });
});
afterAll(() => a.close());

const api = (path: string) => `${a.env.url}/api/v1${path}`;

test('create validates input, creates a gateway instance and audits; names are unique per tenant', async () => {
  const bad = await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: '', email: 'nope' } });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields.map((f: any) => f.field).sort()).toEqual(['body.account_name', 'body.email']);

  const res = await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'Sales 1', phone: '13800000000', config: { region: 'sh' } } });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ account_name: 'Sales 1', phone: '13800000000', status: 'created', config: { region: 'sh' }, login_retry_count: 0 });
  expect(a.sim.control.describe(res.body.guid).phase).toBe('idle');
  const audit = await a.env.ctx.db('audit_logs').where({ target_id: res.body.id, action: 'account.create' }).first();
  expect(audit.actor_id).toBe(t.adminId);

  const dup = await http('POST', api('/accounts'), { token: t.adminToken, body: { account_name: 'Sales 1' } });
  expect(dup.status).toBe(409);
  expect(dup.body.error.code).toBe('account_name_taken');
  // Another tenant may use the same name.
  expect((await http('POST', api('/accounts'), { token: other.adminToken, body: { account_name: 'Sales 1' } })).status).toBe(201);
});

test('max_accounts is enforced with 403 quota_exceeded', async () => {
  const q = await createTenant(a.env, { maxAccounts: 2 });
  for (const n of ['q1', 'q2']) expect((await http('POST', api('/accounts'), { token: q.adminToken, body: { account_name: n } })).status).toBe(201);
  const over = await http('POST', api('/accounts'), { token: q.adminToken, body: { account_name: 'q3' } });
  expect(over.status).toBe(403);
  expect(over.body.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'max_accounts', limit: 2 } });
  // Concurrent creates cannot overshoot either (the insert re-checks under a tenant lock).
  const r = await createTenant(a.env, { maxAccounts: 2 });
  const results = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((n) => http('POST', api('/accounts'), { token: r.adminToken, body: { account_name: n } })));
  expect(results.filter((x) => x.status === 201)).toHaveLength(2);
  expect(results.filter((x) => x.status === 403)).toHaveLength(2);
});

test('list with status filter and cursor; get, update, delete; history is paginated', async () => {
  const x = await createTenant(a.env, { maxAccounts: 10 });
  const ids: string[] = [];
  for (const n of ['l1', 'l2', 'l3']) ids.push((await createAccount(a, x, n)).id);
  const p1 = await http('GET', api('/accounts?limit=2'), { token: x.adminToken });
  expect(p1.body.data).toHaveLength(2);
  const p2 = await http('GET', api(`/accounts?limit=2&cursor=${p1.body.next_cursor}`), { token: x.adminToken });
  expect(p2.body.data).toHaveLength(1);
  expect(p2.body.next_cursor).toBeNull();
  expect([...p1.body.data, ...p2.body.data].map((r: any) => r.id).sort()).toEqual([...ids].sort());
  expect((await http('GET', api('/accounts?status=online'), { token: x.adminToken })).body.data).toHaveLength(0);
  expect((await http('GET', api('/accounts?status=created,offline'), { token: x.adminToken })).body.data).toHaveLength(3);
  const badStatus = await http('GET', api('/accounts?status=sleeping'), { token: x.adminToken });
  expect(badStatus.status).toBe(400);
  expect(badStatus.body.error.details.fields[0].field).toBe('query.status');

  const upd = await http('PATCH', api(`/accounts/${ids[0]}`), { token: x.adminToken, body: { account_name: 'renamed', email: 'r@example.test' } });
  expect(upd.status).toBe(200);
  expect(upd.body).toMatchObject({ account_name: 'renamed', email: 'r@example.test' });
  expect((await http('PATCH', api(`/accounts/${ids[0]}`), { token: x.adminToken, body: { account_name: 'l2' } })).status).toBe(409);

  const hist = await http('GET', api(`/accounts/${ids[0]}/history?limit=1`), { token: x.adminToken });
  expect(hist.body.data).toEqual([expect.objectContaining({ old_status: null, new_status: 'created', operator_type: 'user', operator_id: x.adminId })]);
  expect(hist.body.next_cursor).toBeNull();

  const guid = (await http('GET', api(`/accounts/${ids[0]}`), { token: x.adminToken })).body.guid;
  expect((await http('DELETE', api(`/accounts/${ids[0]}`), { token: x.adminToken })).status).toBe(204);
  expect(() => a.sim.control.describe(guid)).toThrow(/not found/);
  expect((await http('GET', api(`/accounts/${ids[0]}`), { token: x.adminToken })).status).toBe(404);
  expect(await a.env.ctx.db('audit_logs').where({ target_id: ids[0] }).pluck('action')).toEqual(
    expect.arrayContaining(['account.create', 'account.update', 'account.delete']),
  );
});

test('another tenant’s account answers 404 on every route', async () => {
  const mine = await createAccount(a, t, 'private-one');
  const tok = other.adminToken;
  const routes: Array<[string, string, unknown?]> = [
    ['GET', `/accounts/${mine.id}`],
    ['PATCH', `/accounts/${mine.id}`, { phone: '1' }],
    ['DELETE', `/accounts/${mine.id}`],
    ['POST', `/accounts/${mine.id}/login`],
    ['GET', `/accounts/${mine.id}/qr`],
    ['POST', `/accounts/${mine.id}/verify`, { code: '1' }],
    ['POST', `/accounts/${mine.id}/logout`],
    ['GET', `/accounts/${mine.id}/history`],
    ['GET', `/accounts/${mine.id}/conversations`],
    ['POST', `/accounts/${mine.id}/conversations/sync`],
  ];
  for (const [method, path, b] of routes) {
    const res = await http(method, api(path), { token: tok, body: b });
    expect([method, path, res.status]).toEqual([method, path, 404]);
  }
  const list = await http('GET', api('/accounts?limit=200'), { token: tok });
  expect(list.body.data.map((r: any) => r.id)).not.toContain(mine.id);
  expect((await http('GET', api(`/accounts/${mine.id}`), { token: t.adminToken })).body.status).toBe('created');
});

test('permissions: a viewer reads but cannot create, log in or sync', async () => {
  const viewer = await createUserWithRole(a.env, t, 'viewer');
  const acct = await createAccount(a, t, 'viewer-sees');
  expect((await http('GET', api(`/accounts/${acct.id}`), { token: viewer.token })).status).toBe(200);
  expect((await http('POST', api('/accounts'), { token: viewer.token, body: { account_name: 'v' } })).status).toBe(403);
  expect((await http('POST', api(`/accounts/${acct.id}/login`), { token: viewer.token })).status).toBe(403);
  expect((await http('POST', api(`/accounts/${acct.id}/conversations/sync`), { token: viewer.token })).status).toBe(403);
});

test('realtime: account.status and account.qr reach the owning tenant’s sockets only', async () => {
  const x = await createTenant(a.env, { maxAccounts: 5 });
  const y = await createTenant(a.env, { maxAccounts: 5 });
  const sx = await connectSocket(a.env.url, { token: x.adminToken });
  const sy = await connectSocket(a.env.url, { token: y.adminToken });
  try {
    const acct = await createAccount(a, y, 'rt-1');
    await http('POST', api(`/accounts/${acct.id}/login`), { token: y.adminToken });
    await waitForStatus(a, y, acct.id, 'waiting_scan');
    a.sim.control.scan(acct.guid);
    a.sim.control.confirm(acct.guid);
    await waitForStatus(a, y, acct.id, 'online');
    await sy.waitForEvent('account.status', (p) => p.new_status === 'online', 'the online account.status event');
    expect(sy.received('account.status').map((p) => p.new_status)).toEqual(['logging_in', 'waiting_scan', 'online']);
    const status = sy.events.find((e) => e.event === 'account.status')!.payload;
    expect(status).toMatchObject({ account_id: acct.id, old_status: 'created', new_status: 'logging_in', reason: 'login_requested' });
    expect(typeof status.at).toBe('string');
    const qr = sy.events.find((e) => e.event === 'account.qr')!.payload;
    expect(qr.account_id).toBe(acct.id);
    expect(Date.parse(qr.expires_at)).toBeGreaterThan(Date.now());
    // Barrier: an event of tenant X itself, published after all of Y's, arrives at X's socket …
    const mine = await createAccount(a, x, 'rt-x');
    await http('POST', api(`/accounts/${mine.id}/login`), { token: x.adminToken });
    await sx.waitForEvent('account.status', (p) => p.account_id === mine.id, 'tenant X’s own account.status event');
    // … and nothing of tenant Y ever did, although X's socket was connected the whole time.
    expect(sx.events.every((e) => e.payload.account_id === mine.id)).toBe(true);
    expect(sy.events.some((e) => e.payload.account_id === mine.id)).toBe(false);
  } finally {
    sx.close();
    sy.close();
  }
});

test('a socket without a valid token is refused', async () => {
  await expect(connectSocket(a.env.url, { token: 'garbage' })).rejects.toThrow();
});

test('a socket authenticated by an API key gets its own tenant’s events only; a revoked key is refused', async () => {
  const x = await createTenant(a.env, { maxAccounts: 5 });
  const y = await createTenant(a.env, { maxAccounts: 5 });
  const created = await http('POST', api('/api-keys'), { token: x.adminToken, body: { name: 'dashboard', permissions: ['accounts:read'] } });
  expect(created.status).toBe(201);
  const sx = await connectSocket(a.env.url, { token: created.body.key });
  const sy = await connectSocket(a.env.url, { token: y.adminToken });
  try {
    // Y's account moves first; X's key-authenticated socket is connected the whole time.
    const theirs = await createAccount(a, y, 'key-y');
    await http('POST', api(`/accounts/${theirs.id}/login`), { token: y.adminToken });
    await sy.waitForEvent('account.status', (p) => p.account_id === theirs.id, 'tenant Y’s account.status event');
    // Barrier: an event of X's own, published after Y's, reaches the key's socket …
    const mine = await createAccount(a, x, 'key-x');
    await http('POST', api(`/accounts/${mine.id}/login`), { token: x.adminToken });
    await sx.waitForEvent('account.status', (p) => p.account_id === mine.id && p.new_status === 'logging_in', 'tenant X’s account.status event on the key’s socket');
    // … and nothing of Y's did.
    expect(sx.events.filter((e) => e.payload?.account_id === theirs.id)).toEqual([]);
  } finally {
    sx.close();
    sy.close();
  }
  expect((await http('DELETE', api(`/api-keys/${created.body.id}`), { token: x.adminToken })).status).toBe(200);
  await expect(connectSocket(a.env.url, { token: created.body.key })).rejects.toThrow('invalid or revoked API key');
});
