import { applyAccountCallback } from '../../src/accounts/callbacks';
import { runAccountWatchdog } from '../../src/cron/jobs/account-watchdog';
import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { createAccount, getAccount, history, loginAccount, startAccountsEnv, waitForStatus, type AccountsEnv } from './support';

/** Losing a session and getting it back: gateway callbacks, the heartbeat watchdog, recovery with backoff and a cap. */
let a: AccountsEnv;
let t: TestTenant;
beforeAll(async () => {
  // Recovery: 30 ms base backoff, at most 2 attempts; heartbeat stale after 60 s.
  a = await startAccountsEnv('acctrecover', { HEARTBEAT_STALE_SECONDS: '60' });
  t = await createTenant(a.env, { maxAccounts: 50 });
});
afterAll(() => a.close());
afterEach(() => a.sim.control.configure({ auto_login: false }));

async function onlineAccount(name: string) {
  const acct = await createAccount(a, t, name);
  await loginAccount(a, t, acct.id, acct.guid);
  return acct;
}

const statuses = (rows: Awaited<ReturnType<typeof history>>) => rows.map((r) => r.new_status);

test('kicked offline → recovering → re-login → online, counter reset, every step recorded', async () => {
  const acct = await onlineAccount('rec-kicked');
  a.sim.control.configure({ auto_login: true, auto_login_delay_ms: 20 });
  a.sim.control.kick(acct.guid, 'kicked', false);
  const result = await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 2, payload: { scene: 'kicked' } });
  expect(result).toMatchObject({ handled: true, accountId: acct.id, tenantId: t.tenantId, outcome: 'recovering' });

  const back = await waitForStatus(a, t, acct.id, 'online');
  expect(back.login_retry_count).toBe(0);
  const rows = await history(a, t, acct.id);
  const tail = rows.slice(rows.findIndex((r) => r.new_status === 'offline'));
  expect(statuses(tail)).toEqual(['offline', 'recovering', 'logging_in', 'waiting_scan', 'online']);
  expect(tail[0]).toMatchObject({ reason: 'kicked', operator_type: 'system' });
  expect(tail[1]).toMatchObject({ reason: 'recovery_started:kicked', operator_type: 'auto' });
  expect(tail[2]).toMatchObject({ reason: 'recovery_attempt', operator_type: 'auto' });

  // The same callback again changes nothing (the processor may deliver twice).
  const repeat = await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 1, payload: { user_info: {} } });
  expect(repeat.outcome).toBe('heartbeat');
  expect((await history(a, t, acct.id)).length).toBe(rows.length);
});

test('a logout scene stays offline (no recovery)', async () => {
  const acct = await onlineAccount('rec-logout');
  const r = await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 2, payload: { scene: 'logout' } });
  expect(r.outcome).toBe('offline');
  const acc = await getAccount(a, t, acct.id);
  expect(acc.status).toBe('offline');
  const rows = await history(a, t, acct.id);
  expect(rows[rows.length - 1]).toMatchObject({ new_status: 'offline', reason: 'logout' });
});

test('re-login keeps failing: retry cap reached → error with the reason', async () => {
  const acct = await onlineAccount('rec-cap');
  a.sim.control.failLogin(acct.guid, 'retryable', 10);
  a.sim.control.kick(acct.guid, 'network', false);
  await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 2, payload: { scene: 'network' } });
  const failed = await waitForStatus(a, t, acct.id, 'error');
  expect(failed.login_retry_count).toBe(2);
  expect(failed.error_message).toMatch(/gave up after 2 attempts/);
  const rows = await history(a, t, acct.id);
  const tail = rows.slice(rows.findIndex((r) => r.new_status === 'offline'));
  expect(statuses(tail)).toEqual(['offline', 'recovering', 'logging_in', 'recovering', 'logging_in', 'recovering', 'error']);
  expect(tail[3]).toMatchObject({ reason: 'gateway_login_unavailable' });
  expect(tail[6]).toMatchObject({ reason: 'recovery_exhausted', operator_type: 'auto' });

  // An operator can start over from error.
  a.sim.control.failLogin(acct.guid, null);
  await loginAccount(a, t, acct.id, acct.guid);
});

test('a permanent gateway refusal during recovery ends in error at once', async () => {
  const acct = await onlineAccount('rec-permanent');
  a.sim.control.failLogin(acct.guid, 'permanent', 1);
  a.sim.control.kick(acct.guid, 'expired', false);
  await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 2, payload: { scene: 'expired' } });
  const failed = await waitForStatus(a, t, acct.id, 'error');
  expect(failed.login_retry_count).toBe(1);
  const rows = await history(a, t, acct.id);
  expect(rows[rows.length - 1]).toMatchObject({ old_status: 'logging_in', new_status: 'error', reason: 'gateway_login_blocked' });
});

test('login progress callbacks move the account ahead of the poller; unknown guids are not handled', async () => {
  const acct = await createAccount(a, t, 'rec-progress');
  await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
  await waitForStatus(a, t, acct.id, 'waiting_scan');
  // The callback is ahead of the poller (which still sees waiting_scan and never moves an account back).
  const r = await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 7, payload: { state: 'need_verify' } });
  expect(r).toMatchObject({ handled: true, outcome: 'moved' });
  expect((await getAccount(a, t, acct.id)).status).toBe('need_verify');
  const rows = await history(a, t, acct.id);
  expect(rows[rows.length - 1]).toMatchObject({ old_status: 'waiting_scan', new_status: 'need_verify', operator_type: 'system' });
  expect(await applyAccountCallback(a.env.ctx, { guid: 'sim-unknown', notify_type: 1, payload: {} })).toEqual({ handled: false, outcome: 'unknown_guid' });
  expect((await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 3, payload: {} })).handled).toBe(false);
  await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/logout`, { token: t.adminToken });
});

describe('heartbeat watchdog', () => {
  test('copies gateway heartbeats, marks stale accounts offline (heartbeat_stale) and recovers them', async () => {
    const healthy = await onlineAccount('wd-healthy');
    const hung = await onlineAccount('wd-hung');
    const db = a.env.ctx.db;
    const longAgo = new Date(Date.now() - 3600_000);
    await db('wework_accounts').whereIn('id', [healthy.id, hung.id]).update({ last_heartbeat_time: longAgo });
    // The hung session's heartbeat froze 2 minutes ago (stale threshold 60 s).
    a.sim.control.stallHeartbeat(hung.guid, true, 120_000);
    const now = new Date();
    a.sim.control.configure({ auto_login: true, auto_login_delay_ms: 20 });

    const res = await runAccountWatchdog(a.env.ctx, now);
    expect(res.checked).toBeGreaterThanOrEqual(2);
    expect(res.stale).toBe(1);
    const h = await db('wework_accounts').where({ id: healthy.id }).first();
    expect(h.status).toBe('online');
    expect(new Date(h.last_heartbeat_time).getTime()).toBeGreaterThan(longAgo.getTime());

    const rows = await history(a, t, hung.id);
    const tail = rows.slice(rows.findIndex((r) => r.reason === 'heartbeat_stale'));
    expect(tail[0]).toMatchObject({ old_status: 'online', new_status: 'offline', operator_type: 'auto' });
    expect(tail[1]).toMatchObject({ new_status: 'recovering' });
    await waitForStatus(a, t, hung.id, 'online');
  });

  test('a gateway that lost the instance (restart): recovery logs in on a new instance', async () => {
    const acct = await onlineAccount('wd-lost');
    await a.env.ctx.gateway.deleteInstance(acct.guid);
    a.sim.control.configure({ auto_login: true, auto_login_delay_ms: 20 });

    await runAccountWatchdog(a.env.ctx, new Date());
    const back = await waitForStatus(a, t, acct.id, 'online');
    expect(back.guid).not.toBe(acct.guid);
    expect((await a.env.ctx.gateway.getStatus(back.guid)).online).toBe(true);
    const rows = await history(a, t, acct.id);
    expect(rows.filter((r) => r.new_status === 'error')).toEqual([]);
  });

  test('an account the gateway reports offline is taken offline and recovered', async () => {
    const acct = await onlineAccount('wd-offline');
    a.sim.control.kick(acct.guid, 'network', false); // no callback: only the watchdog can notice
    a.sim.control.configure({ auto_login: true, auto_login_delay_ms: 20 });
    const res = await runAccountWatchdog(a.env.ctx, new Date());
    expect(res.gateway_offline).toBeGreaterThanOrEqual(1);
    await waitForStatus(a, t, acct.id, 'online');
    const rows = await history(a, t, acct.id);
    expect(rows.some((r) => r.reason === 'gateway_reports_offline' && r.new_status === 'offline')).toBe(true);
  });

  test('a login attempt abandoned past its deadline (lost poll chain) is ended', async () => {
    const acct = await createAccount(a, t, 'wd-abandoned');
    await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
    await waitForStatus(a, t, acct.id, 'waiting_scan');
    await a.env.ctx.redis.del(`${a.env.config.redis.prefix}:account-login:${acct.id}`); // the poll chain stops
    await a.env.ctx.db('wework_accounts').where({ id: acct.id }).update({ updated_at: new Date(Date.now() - 3600_000) });
    const res = await runAccountWatchdog(a.env.ctx, new Date());
    expect(res.abandoned_logins).toBe(1);
    const acc = await getAccount(a, t, acct.id);
    expect(acc).toMatchObject({ status: 'offline', error_message: 'the login attempt stopped making progress' });
  });
});

test('end to end: the simulator’s signed callbacks reach POST /callbacks/gateway and drive the transition', async () => {
  const { startCallbackProcessWorker } = await import('../../workers/callback-process.worker');
  const worker = startCallbackProcessWorker(a.env.ctx, { handlers: { account: applyAccountCallback }, concurrency: 2 });
  try {
    const acct = await onlineAccount('e2e-callback');
    a.sim.control.kick(acct.guid, 'logout', true); // signed notify 2 {scene: logout} POSTed to the API
    await waitForStatus(a, t, acct.id, 'offline');
    const rows = await history(a, t, acct.id);
    expect(rows[rows.length - 1]).toMatchObject({ old_status: 'online', new_status: 'offline', reason: 'logout', operator_type: 'system' });
    const stored = await waitFor(() => a.env.ctx.db('callback_events').where({ guid: acct.guid, notify_type: 2 }).first(), 'the offline callback event processed', {
      until: (row) => row?.status === 'processed',
    });
    expect(stored.status).toBe('processed');
  } finally {
    await worker.close();
  }
});
