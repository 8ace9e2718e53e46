import { startAccountLoginWorker } from '../../workers/account-login.worker';
import type { RunningWorker } from '../../workers';
import { createTestEnv, type TestEnv, type TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator';
import { waitFor } from '../helpers/wait';

export const CALLBACK_SECRET = 'accounts-test-callback-secret';
export const GATEWAY_KEY = 'accounts-test-gateway-key';

export interface AccountsEnv {
  env: TestEnv;
  sim: TestSimulator;
  worker: RunningWorker;
  close(): Promise<void>;
}

/**
 * A test environment for the accounts module: the gateway simulator on a random port, the API pointed
 * at it (GATEWAY_URL), short login/recovery timings, and the account-login worker running.
 */
export async function startAccountsEnv(label: string, envOverrides: Record<string, string> = {}): Promise<AccountsEnv> {
  const sim = await startTestSimulator({ callbackSecret: CALLBACK_SECRET, apiKey: GATEWAY_KEY, autoLogin: false, callbackQueue: { retryBaseMs: 20 } });
  const env = await createTestEnv(label, {
    api: true,
    env: {
      GATEWAY_URL: sim.url,
      GATEWAY_API_KEY: GATEWAY_KEY,
      GATEWAY_CALLBACK_SECRET: CALLBACK_SECRET,
      // Generous: on a loaded machine the simulator (in this process) can take seconds to render a QR PNG.
      GATEWAY_TIMEOUT_MS: '15000',
      ACCOUNT_LOGIN_POLL_MS: '40',
      ACCOUNT_LOGIN_TIMEOUT_SECONDS: '30',
      ACCOUNT_RECOVERY_BASE_DELAY_MS: '30',
      ACCOUNT_RECOVERY_MAX_DELAY_MS: '200',
      ACCOUNT_RECOVERY_MAX_RETRIES: '2',
      ...envOverrides,
    },
  });
  sim.callbacks.setUrl(`${env.url}/callbacks/gateway`);
  const worker = startAccountLoginWorker(env.ctx, { concurrency: 4 });
  return {
    env,
    sim,
    worker,
    async close() {
      await worker.close();
      await sim.close();
      await env.close();
    },
  };
}

export async function createAccount(a: AccountsEnv, tenant: TestTenant, name = `acct-${Math.random().toString(36).slice(2, 8)}`) {
  const res = await http('POST', `${a.env.url}/api/v1/accounts`, { token: tenant.adminToken, body: { account_name: name } });
  if (res.status !== 201) throw new Error(`create account: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; guid: string; status: string };
}

export async function getAccount(a: AccountsEnv, tenant: TestTenant, id: string) {
  return (await http('GET', `${a.env.url}/api/v1/accounts/${id}`, { token: tenant.adminToken })).body;
}

export const waitForStatus = (a: AccountsEnv, tenant: TestTenant, id: string, status: string, timeoutMs?: number) =>
  waitFor(() => getAccount(a, tenant, id), `account ${id} → ${status}`, { timeoutMs, until: (acc) => acc?.status === status });

export async function history(a: AccountsEnv, tenant: TestTenant, id: string) {
  const res = await http('GET', `${a.env.url}/api/v1/accounts/${id}/history?limit=200`, { token: tenant.adminToken });
  return (res.body.data as Array<{ old_status: string | null; new_status: string; reason: string; operator_type: string; error_message: string | null }>).reverse();
}

/** Logs an account in through the API, driving the simulator's scan and confirm steps. */
export async function loginAccount(a: AccountsEnv, tenant: TestTenant, id: string, guid: string): Promise<void> {
  const res = await http('POST', `${a.env.url}/api/v1/accounts/${id}/login`, { token: tenant.adminToken });
  if (res.status !== 202) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  await waitForStatus(a, tenant, id, 'waiting_scan');
  a.sim.control.scan(guid);
  a.sim.control.confirm(guid);
  await waitForStatus(a, tenant, id, 'online');
}
