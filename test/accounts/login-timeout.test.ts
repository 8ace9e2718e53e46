import { createTenant, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { createAccount, history, startAccountsEnv, waitForStatus, type AccountsEnv } from './support';

/** A login attempt nobody completes ends by itself (its own file: the 3 s limit would cut other logins short). */
let a: AccountsEnv;
let t: TestTenant;
beforeAll(async () => {
  a = await startAccountsEnv('acctlogintimeout', { ACCOUNT_LOGIN_TIMEOUT_SECONDS: '3' });
  t = await createTenant(a.env, { maxAccounts: 5 });
});
afterAll(() => a.close());

test('nobody scans: the attempt times out (ACCOUNT_LOGIN_TIMEOUT_SECONDS) and the gateway login is cancelled', async () => {
  const acct = await createAccount(a, t, 'flow-timeout');
  await http('POST', `${a.env.url}/api/v1/accounts/${acct.id}/login`, { token: t.adminToken });
  const off = await waitForStatus(a, t, acct.id, 'offline', 10_000);
  expect(off.error_message).toMatch(/within 3s/);
  const rows = await history(a, t, acct.id);
  expect(rows[rows.length - 1]).toMatchObject({ new_status: 'offline', reason: 'login_timeout' });
  expect(a.sim.control.describe(acct.guid).phase).toBe('cancelled');
});
