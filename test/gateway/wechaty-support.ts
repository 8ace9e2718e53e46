import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultCallbackHandlers } from '../../src/callbacks/handlers';
import type { GatewayClient } from '../../src/gateway/types';
import { startCallbackProcessWorker } from '../../workers/callback-process.worker';
import type { RunningWorker } from '../../workers';
import { CALLBACK_SECRET, startAccountsEnv, waitForStatus, type AccountsEnv } from '../accounts/support';
import type { TestTenant } from '../helpers/env';
import { http } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { spawnRole, type SpawnedRole } from '../helpers/processes';
import { SCAN, startPuppetPeer, type PuppetPeer } from '../helpers/puppet-peer';

/**
 * The Wechaty gateway under test, end to end on loopback: the platform (API, account-login and
 * callback workers) in the test process, the `gateway-wechaty` role as a child process, and the
 * provider side as another child (test/fixtures/puppet-peer.ts: real upstream PuppetServers with
 * PuppetMocks). Timings are short so reconnection and takeover happen within a test.
 */
export const WX_KEY = 'wechaty-test-gateway-key';
export const KEY_RING = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

export interface WechatyEnv {
  a: AccountsEnv;
  peer: PuppetPeer;
  gateway: SpawnedRole;
  /** The platform's client of the gateway (the same HTTP client the sender uses). */
  client: GatewayClient;
  callbacks: RunningWorker;
  gatewayEnv: Record<string, string>;
  /** Starts the gateway role again (after a kill), same port, same Redis. */
  restartGateway(): Promise<void>;
  close(): Promise<void>;
}

export async function startWechatyEnv(label: string, extraGatewayEnv: Record<string, string> = {}): Promise<WechatyEnv> {
  const gwPort = await freePort();
  const gwUrl = `http://127.0.0.1:${gwPort}`;
  const peer = await startPuppetPeer();
  const a = await startAccountsEnv(label, {
    WECHATY_GATEWAY_URL: gwUrl,
    WECHATY_GATEWAY_API_KEY: WX_KEY,
    CHANNEL_SECRET_KEYS: KEY_RING,
    // A login start waits for the provider's QR up to WECHATY_LOGIN_WAIT_MS.
    GATEWAY_TIMEOUT_MS: '30000',
  });
  const callbacks = startCallbackProcessWorker(a.env.ctx, { handlers: defaultCallbackHandlers() });
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'wwp-wx-gw-'));
  const gatewayEnv = {
    WECHATY_GATEWAY_PORT: String(gwPort),
    WECHATY_GATEWAY_API_KEY: WX_KEY,
    WECHATY_CACHE_DIR: cacheDir,
    HOME: cacheDir,
    CALLBACK_URL: `${a.env.url}/callbacks/gateway`,
    // Large files go to the provider as presigned URLs of the platform's storage (served by the API).
    PUBLIC_URL: a.env.url,
    GATEWAY_CALLBACK_SECRET: CALLBACK_SECRET,
    CHANNEL_SECRET_KEYS: KEY_RING,
    WECHATY_LOGIN_WAIT_MS: '20000',
    WECHATY_KEEPALIVE_SECONDS: '1',
    WECHATY_HEARTBEAT_TIMEOUT_SECONDS: '6',
    WECHATY_RECONNECT_BASE_MS: '200',
    WECHATY_RECONNECT_MAX_MS: '1500',
    WECHATY_LEASE_MS: '3000',
    LOG_LEVEL: 'debug',
    ...extraGatewayEnv,
  };
  const start = async () => {
    const g = spawnRole({ role: 'gateway-wechaty', config: a.env.config, env: gatewayEnv, label: 'gateway-wechaty' });
    await g.waitForOutput(/wechaty gateway listening/, 'wechaty gateway start-up');
    return g;
  };
  let gateway: SpawnedRole;
  try {
    gateway = await start();
  } catch (err) {
    // A gateway that never came up: take down what did, temp dirs included.
    await callbacks.close();
    await peer.close();
    await a.close();
    rmSync(cacheDir, { recursive: true, force: true });
    throw err;
  }
  const env: WechatyEnv = {
    a,
    peer,
    gateway,
    client: a.env.ctx.gateway.for('wechaty'),
    callbacks,
    gatewayEnv,
    async restartGateway() {
      env.gateway = await start();
    },
    async close() {
      await env.gateway.stop().catch(() => env.gateway.kill());
      // The gateway's log, for diagnosing a failure (it never holds a token: a test asserts that).
      writeFileSync(path.join(os.tmpdir(), `wwp-wx-gateway-${label}.log`), env.gateway.output());
      await callbacks.close();
      writeFileSync(path.join(os.tmpdir(), `wwp-wx-peer-${label}.log`), peer.proc.output());
      await peer.close();
      await a.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
  return env;
}

const api = (w: WechatyEnv, p: string) => `${w.a.env.url}/api/v1${p}`;

/** A `wechaty` account whose provider is a fresh PuppetServer of the peer. */
export async function createWechatyAccount(w: WechatyEnv, t: TestTenant, token: string): Promise<{ id: string; guid: string; port: number }> {
  const port = await w.peer.addServer(token);
  const res = await http('POST', api(w, '/accounts'), {
    token: t.adminToken,
    body: { account_name: token.slice(-12), channel: 'wechaty', credentials: { token, endpoint: `127.0.0.1:${port}`, tls: { insecure: true } } },
  });
  if (res.status !== 201) throw new Error(`create account: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, guid: res.body.guid, port };
}

/** Logs the account in through the API, the mock's "phone" scanning and confirming. */
export async function loginByScan(w: WechatyEnv, t: TestTenant, acct: { id: string }, token: string): Promise<string> {
  await w.peer.scan(token, SCAN.Waiting, `https://login.mock.test/qr/${token}`);
  const res = await http('POST', api(w, `/accounts/${acct.id}/login`), { token: t.adminToken });
  if (res.status !== 202) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  await waitForStatus(w.a, t, acct.id, 'waiting_scan', 40_000);
  await w.peer.scan(token, SCAN.Scanned);
  await waitForStatus(w.a, t, acct.id, 'waiting_confirm', 20_000);
  await w.peer.scan(token, SCAN.Confirmed);
  const userId = await w.peer.login(token);
  await waitForStatus(w.a, t, acct.id, 'online', 20_000);
  return userId;
}

/** One `wechaty` account per provider token, each logged in by scan: online, in the tokens' order. */
export async function onlineWechatyAccounts(w: WechatyEnv, t: TestTenant, tokens: string[]): Promise<Array<{ id: string; guid: string; port: number }>> {
  const accts = [];
  for (const token of tokens) {
    const acct = await createWechatyAccount(w, t, token);
    await loginByScan(w, t, acct, token);
    accts.push(acct);
  }
  return accts;
}
