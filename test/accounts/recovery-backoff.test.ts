import { applyAccountCallback } from '../../src/accounts/callbacks';
import { QUEUE } from '../../src/queues/names';
import { createTenant, type TestTenant } from '../helpers/env';
import { createAccount, history, loginAccount, startAccountsEnv, waitForStatus, type AccountsEnv } from './support';

/**
 * Recovery waits between re-login attempts: base·2ⁿ, capped. The delays are observed twice: as the delay
 * of each `recover` job the lifecycle scheduled, and as the gaps between the login attempts the gateway
 * saw (lower bounds only: a slow machine may wait longer, never shorter).
 */
const BASE_MS = 300;
const MAX_MS = 700;
const RETRIES = 3;

let a: AccountsEnv;
let t: TestTenant;
beforeAll(async () => {
  a = await startAccountsEnv('acctbackoff', {
    ACCOUNT_RECOVERY_BASE_DELAY_MS: String(BASE_MS),
    ACCOUNT_RECOVERY_MAX_DELAY_MS: String(MAX_MS),
    ACCOUNT_RECOVERY_MAX_RETRIES: String(RETRIES),
  });
  t = await createTenant(a.env, { maxAccounts: 5 });
});
afterAll(() => a.close());

test('recovery attempts wait base, 2·base, then the cap, and give up after the retry cap', async () => {
  const acct = await createAccount(a, t, 'backoff');
  await loginAccount(a, t, acct.id, acct.guid);
  a.sim.control.failLogin(acct.guid, 'retryable', 10);
  a.sim.control.kick(acct.guid, 'network', false);
  const lostAt = Date.now();
  await applyAccountCallback(a.env.ctx, { guid: acct.guid, notify_type: 2, payload: { scene: 'network' } });
  const failed = await waitForStatus(a, t, acct.id, 'error', 30_000);
  expect(failed.login_retry_count).toBe(RETRIES);

  // Scheduled: one recover job per attempt plus the one that gives up, each with its backoff.
  const jobs = (await a.env.ctx.queues.get(QUEUE.accountLogin).getJobs(['completed']))
    .filter((j) => j.name === 'recover' && j.data.accountId === acct.id)
    .sort((x, y) => x.timestamp - y.timestamp);
  const expected = [BASE_MS, 2 * BASE_MS, MAX_MS, MAX_MS]; // 4·base = 1200 is capped at 700
  expect(jobs.map((j) => j.opts.delay)).toEqual(expected);
  for (const j of jobs) expect(j.processedOn! - j.timestamp).toBeGreaterThanOrEqual(j.opts.delay!);

  // Observed at the gateway: the recovery's login attempts, each at least its backoff after the last.
  const attempts = a.sim.loginStarts.filter((s) => s.guid === acct.guid && s.at >= lostAt).map((s) => s.at);
  expect(attempts).toHaveLength(RETRIES);
  expect(attempts[0] - lostAt).toBeGreaterThanOrEqual(expected[0]);
  for (let i = 1; i < attempts.length; i += 1) expect(attempts[i] - attempts[i - 1]).toBeGreaterThanOrEqual(expected[i]);

  const rows = await history(a, t, acct.id);
  expect(rows[rows.length - 1]).toMatchObject({ new_status: 'error', reason: 'recovery_exhausted' });
});
