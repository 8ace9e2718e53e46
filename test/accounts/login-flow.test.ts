import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { createAccount, history, loginAccount, startAccountsEnv, waitForStatus, type AccountsEnv } from './support';

/** The QR login flow end to end: API → login queue → gateway simulator (real HTTP) → database. */
let a: AccountsEnv;
let t: TestTenant;
beforeAll(async () => {
  a = await startAccountsEnv('acctlogin');
  t = await createTenant(a.env, { maxAccounts: 50 });
});
afterAll(() => a.close());

const transitions = (rows: Awaited<ReturnType<typeof history>>) => rows.map((r) => `${r.old_status ?? '-'}>${r.new_status}`);

test('scan → confirm → online: QR served as PNG, conversations synced, every step in history', async () => {
  const acct = await createAccount(a, t, 'flow-basic');
  expect(acct.status).toBe('created');
  expect(acct.guid).toMatch(/^sim-/);

  const start = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
  expect(start.status).toBe(202);
  expect(start.body.status).toBe('logging_in');

  const waiting = await waitForStatus(a, t, acct.id, 'waiting_scan');
  expect(waiting.qr_code_url).toMatch(new RegExp(`/api/v1/accounts/${acct.id}/qr$`));
  const qr = await fetch(`${a.env.url}/api/v1/accounts/${acct.id}/qr`, { headers: { authorization: `Bearer ${t.adminToken}` } });
  expect(qr.status).toBe(200);
  expect(qr.headers.get('content-type')).toBe('image/png');
  expect(Buffer.from(await qr.arrayBuffer()).subarray(1, 4).toString('latin1')).toBe('PNG');

  await http('POST', `${a.sim.url}/_control/instances/${acct.guid}/scan`);
  await waitForStatus(a, t, acct.id, 'waiting_confirm');
  await http('POST', `${a.sim.url}/_control/instances/${acct.guid}/confirm`);
  const online = await waitForStatus(a, t, acct.id, 'online');
  expect(online.user_info).toMatchObject({ name: 'flow-basic' });
  expect(online.last_heartbeat_time).toBeTruthy();
  expect(online.last_login_time).toBeTruthy();
  expect(online.qr_code_url).toBeNull();

  const qrAfter = await http('GET', `${a.env.url}/api/v1/accounts/${acct.id}/qr`, { token: t.adminToken });
  expect(qrAfter.status).toBe(404);

  const convs = await waitFor(() => http('GET', `${a.env.url}/api/v1/accounts/${acct.id}/conversations`, { token: t.adminToken }), 'conversations synced', {
    until: (r) => r.body.data?.length === 5,
  });
  expect(convs.body.data.filter((c: any) => c.conversation_type === 'group')).toHaveLength(2);
  const groups = await http('GET', `${a.env.url}/api/v1/accounts/${acct.id}/conversations?type=group&limit=1`, { token: t.adminToken });
  expect(groups.body.data).toHaveLength(1);
  expect(groups.body.next_cursor).toBeTruthy();
  const page2 = await http('GET', `${a.env.url}/api/v1/accounts/${acct.id}/conversations?type=group&limit=1&cursor=${groups.body.next_cursor}`, { token: t.adminToken });
  expect(page2.body.data[0].id).not.toBe(groups.body.data[0].id);
  expect(page2.body.data[0].member_count).toBeGreaterThan(2);

  const rows = await history(a, t, acct.id);
  expect(transitions(rows)).toEqual(['->created', 'created>logging_in', 'logging_in>waiting_scan', 'waiting_scan>waiting_confirm', 'waiting_confirm>online']);
  expect(rows[1]).toMatchObject({ operator_type: 'user', reason: 'login_requested' });
  expect(rows[2]).toMatchObject({ operator_type: 'system', reason: 'qr_ready' });

  // An on-demand sync is queued and keeps the same rows (upsert, no duplicates). Barrier: one row is
  // made stale first (renamed, inactive); the queued sync has run once the gateway's name is back.
  const db = a.env.ctx.db;
  const before = await db('conversations').where({ account_id: acct.id }).orderBy('id').pluck('id');
  expect(before).toHaveLength(5);
  const stale = await db('conversations').where({ account_id: acct.id }).orderBy('id').first();
  await db('conversations').where({ id: stale.id }).update({ conversation_name: 'stale name', is_active: 0 });
  const sync = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/conversations/sync`, { token: t.adminToken });
  expect(sync.status).toBe(202);
  await waitFor(() => db('conversations').where({ id: stale.id }).first(), 'the queued sync to restore the stale conversation', {
    until: (row) => row.conversation_name === stale.conversation_name && row.is_active === 1,
  });
  expect(await db('conversations').where({ account_id: acct.id }).orderBy('id').pluck('id')).toEqual(before);

  const audit = await a.env.ctx.db('audit_logs').where({ target_id: acct.id }).pluck('action');
  expect(audit).toEqual(expect.arrayContaining(['account.create', 'account.login', 'account.conversations_sync']));
});

test('verification code: wrong code answers 422 and is recorded, the right code logs in', async () => {
  const acct = await createAccount(a, t, 'flow-verify');
  a.sim.control.requireVerify(acct.guid, '135790');
  await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
  await waitForStatus(a, t, acct.id, 'waiting_scan');
  a.sim.control.scan(acct.guid);
  await waitForStatus(a, t, acct.id, 'waiting_confirm');
  a.sim.control.confirm(acct.guid);
  await waitForStatus(a, t, acct.id, 'need_verify');

  const wrong = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/verify`, { token: t.adminToken, body: { code: '000000' } });
  expect(wrong.status).toBe(422);
  expect(wrong.body.error.code).toBe('verify_code_wrong');
  expect((await http('GET', `${a.env.url}/api/v1/accounts/${acct.id}`, { token: t.adminToken })).body.status).toBe('need_verify');

  const missing = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/verify`, { token: t.adminToken, body: {} });
  expect(missing.status).toBe(400);
  expect(missing.body.error.details.fields[0].field).toBe('body.code');

  const right = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/verify`, { token: t.adminToken, body: { code: '135790' } });
  expect(right.status).toBe(200);
  expect(right.body.status).toBe('online');

  const rows = await history(a, t, acct.id);
  expect(transitions(rows)).toEqual([
    '->created',
    'created>logging_in',
    'logging_in>waiting_scan',
    'waiting_scan>waiting_confirm',
    'waiting_confirm>need_verify',
    'need_verify>need_verify',
    'need_verify>online',
  ]);
  expect(rows[5]).toMatchObject({ reason: 'verify_failed', error_message: 'wrong_code', operator_type: 'user' });
  expect(rows[6]).toMatchObject({ reason: 'verify_code_accepted', operator_type: 'user' });
});

test('an expired QR code ends the attempt offline with the reason; the QR is gone', async () => {
  a.sim.control.configure({ qr_ttl_ms: 300 });
  try {
    const acct = await createAccount(a, t, 'flow-qr-expiry');
    await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
    const off = await waitForStatus(a, t, acct.id, 'offline');
    expect(off.error_message).toBe('qr_expired');
    const rows = await history(a, t, acct.id);
    expect(rows[rows.length - 1]).toMatchObject({ old_status: 'waiting_scan', new_status: 'offline', reason: 'qr_expired' });
    expect((await http('GET', `${a.env.url}/api/v1/accounts/${acct.id}/qr`, { token: t.adminToken })).status).toBe(404);
  } finally {
    a.sim.control.configure({ qr_ttl_ms: 120_000 });
  }
});

test('illegal requests answer 409 with the current state', async () => {
  const acct = await createAccount(a, t, 'flow-illegal');
  const verify = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/verify`, { token: t.adminToken, body: { code: '1' } });
  expect(verify.status).toBe(409);
  expect(verify.body.error).toMatchObject({ code: 'invalid_state_transition', details: { current_state: 'created' } });
  const logout = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/logout`, { token: t.adminToken });
  expect(logout.status).toBe(409);
  expect(logout.body.error.details.current_state).toBe('created');
  const sync = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/conversations/sync`, { token: t.adminToken });
  expect(sync.status).toBe(409);

  await loginAccount(a, t, acct.id, acct.guid);
  const again = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
  expect(again.status).toBe(409);
  expect(again.body.error.details).toEqual({ current_state: 'online', requested: 'logging_in' });

  // Logging out works from online, reaches the gateway, and is recorded.
  const out = await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/logout`, { token: t.adminToken });
  expect(out.status).toBe(200);
  expect(out.body.status).toBe('offline');
  expect(a.sim.control.describe(acct.guid)).toMatchObject({ phase: 'offline', scene: 'logout' });
  const rows = await history(a, t, acct.id);
  expect(rows[rows.length - 1]).toMatchObject({ old_status: 'online', new_status: 'offline', reason: 'user_logout', operator_type: 'user' });
});
