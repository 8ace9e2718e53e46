import 'dotenv/config';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTour, TourError } from '../src/demo/tour';

/**
 * `npm run demo:wechaty`: the demo tour through the Wechaty channel, with a provider on this machine.
 * Needs the service running (`npm start`, which hosts the gateway-wechaty role). Starts a local provider:
 * the upstream `PuppetServer` of wechaty-puppet-service with `PuppetMock` behind it (the peer of the
 * Wechaty tests, test/fixtures/puppet-peer.ts, whose control API plays the phone and the contacts), then:
 *   1. creates (or reuses) a `wechaty` account with a provider token for that server,
 *   2. logs it in through the API: the QR the provider sends is scanned and confirmed on the mock phone,
 *   3. gives the account a few contacts and a room at the provider,
 *   4. walks the demo tour with it (conversations synced from the puppet, template, task, progress),
 *   5. prints what the provider received.
 * DEMO_PUPPET_PORT (default 8788) is the provider's gRPC port; BASE_URL as for demo:tour.
 */
const baseUrl = process.env.BASE_URL ?? process.env.PUBLIC_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const puppetPort = Number(process.env.DEMO_PUPPET_PORT ?? 8788);
const controlPort = puppetPort + 1;
const TOKEN = 'insecure_demo_wechaty_token';
const ACCOUNT = 'Demo WeCom (Wechaty)';
const log = (line: string) => console.log(`[wechaty-demo] ${line}`);

async function json(method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function must(method: string, url: string, what: string, token?: string, body?: unknown): Promise<any> {
  const r = await json(method, url, token, body);
  if (r.status >= 300) throw new TourError(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new TourError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function main(): Promise<void> {
  log(`service ${baseUrl}; provider (PuppetServer + PuppetMock) on 127.0.0.1:${puppetPort}`);
  // The provider, in a process of its own (the upstream packages and the gateway's client family do not share one).
  const home = mkdtempSync(path.join(os.tmpdir(), 'wwp-demo-peer-'));
  const peer = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'test', 'fixtures', 'puppet-peer.ts')], {
    env: { ...process.env, HOME: home, PEER_CONTROL_PORT: String(controlPort), WECHATY_LOG: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stopPeer = () => {
    peer.kill('SIGTERM');
    rmSync(home, { recursive: true, force: true });
  };
  process.on('exit', stopPeer);
  try {
    await new Promise<void>((resolve, reject) => {
      peer.stdout!.on('data', (d: Buffer) => /puppet peer listening/.test(d.toString()) && resolve());
      peer.once('exit', (code) => reject(new TourError(`the provider exited (${code}) before it started`)));
    });
    const phone = `http://127.0.0.1:${controlPort}/servers/${TOKEN}`;
    await must('POST', `http://127.0.0.1:${controlPort}/servers`, 'start the PuppetServer', undefined, { token: TOKEN, port: puppetPort });

    const login = await must('POST', `${baseUrl}/api/v1/auth/login`, 'log in', undefined, {
      tenant_code: process.env.DEMO_TENANT ?? 'demo',
      username: process.env.DEMO_USERNAME ?? 'admin',
      password: process.env.DEMO_ADMIN_PASSWORD ?? 'demo-admin-pass',
    });
    const token = login.access_token as string;
    const api = (p: string) => `${baseUrl}/api/v1${p}`;
    const credentials = { token: TOKEN, endpoint: `127.0.0.1:${puppetPort}`, tls: { insecure: true } };

    // 1. The account on the wechaty channel (reused on a second run: logged out, credentials re-applied).
    let acct = (await must('GET', api(`/accounts?q=${encodeURIComponent(ACCOUNT)}&limit=100`), 'find the account', token)).data.find((a: any) => a.account_name === ACCOUNT);
    if (!acct) {
      acct = await must('POST', api('/accounts'), 'create the wechaty account', token, { account_name: ACCOUNT, channel: 'wechaty', credentials });
      log(`Created account "${ACCOUNT}" on the wechaty channel (token hint ${acct.credentials?.hint?.token}).`);
    } else {
      log(`Reusing account "${ACCOUNT}" (${acct.status}); this provider is new, so it logs in again.`);
      if (!['created', 'offline', 'error'].includes(acct.status)) await json('POST', api(`/accounts/${acct.id}/logout`), token);
      await must('PUT', api(`/accounts/${acct.id}/credentials`), 'apply the credentials', token, { credentials });
    }

    // 2. Login by scan: the provider shows a QR, the mock phone scans and confirms it.
    await must('POST', `${phone}/scan`, 'show a QR', undefined, { status: 2, qrcode: `https://login.mock.test/qr/${Date.now()}` });
    await must('POST', api(`/accounts/${acct.id}/login`), 'start the login', token);
    await until('the QR code', 60_000, async () => ((await json('GET', api(`/accounts/${acct.id}`), token)).body.status === 'waiting_scan' ? true : undefined));
    log('The provider sent a QR code; GET /accounts/:id/qr shows it. Scanning it on the mock phone...');
    await must('POST', `${phone}/scan`, 'scan', undefined, { status: 3 });
    await until('waiting_confirm', 30_000, async () => ((await json('GET', api(`/accounts/${acct.id}`), token)).body.status === 'waiting_confirm' ? true : undefined));
    await must('POST', `${phone}/scan`, 'confirm', undefined, { status: 4 });
    await must('POST', `${phone}/login`, 'log in on the phone', undefined, { name: 'Demo Operator' });
    await until('online', 30_000, async () => ((await json('GET', api(`/accounts/${acct.id}`), token)).body.status === 'online' ? true : undefined));
    log('The account is online through the Wechaty gateway.');

    // 3. Who the account can talk to, at the provider.
    const { ids } = await must('POST', `${phone}/contacts`, 'create contacts', undefined, { names: ['Alice', 'Bob', 'Carol', 'Dave', 'Erin'] });
    await must('POST', `${phone}/rooms`, 'create a room', undefined, { topic: 'Spring launch', member_ids: ids.slice(0, 3) });
    await must('POST', api(`/accounts/${acct.id}/conversations/sync`), 'sync conversations', token);
    await until('the synced conversations', 30_000, async () => {
      const n = (await json('GET', api(`/accounts/${acct.id}/conversations?limit=100`), token)).body.data.length;
      return n >= 6 ? n : undefined;
    });

    // 4. The demo tour, with this account.
    const started = Date.now();
    const result = await runTour({
      baseUrl,
      tenantCode: process.env.DEMO_TENANT ?? 'demo',
      username: process.env.DEMO_USERNAME ?? 'admin',
      password: process.env.DEMO_ADMIN_PASSWORD ?? 'demo-admin-pass',
      accountName: ACCOUNT,
      ratePerMinute: 120,
      log: (line) => console.log(`[tour] ${line}`),
    });

    // 5. The provider's side of it.
    const sent = (await must('GET', `${phone}/sent`, 'read what the provider received')).sent as Array<{ conversation_id: string; text?: string }>;
    const names = new Map(result.conversations.map((c) => [c.conversation_id, c.conversation_name]));
    log(`The provider received ${sent.length} message(s):`);
    for (const s of sent) log(`  to ${names.get(s.conversation_id) ?? s.conversation_id}: ${s.text ?? '(non-text)'}`);
    const ok = result.task.status === 'completed' && result.task.success_count === result.task.total_count && sent.length >= result.task.total_count;
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${ok ? 'every message reached the provider' : 'some messages did not reach the provider'}.`);
    if (!ok) process.exitCode = 1;
  } finally {
    stopPeer();
  }
}

main().catch((err) => {
  console.error(`[wechaty-demo] FAILED: ${err instanceof TourError ? err.message : (err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
