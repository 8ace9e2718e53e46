import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningWorker } from '../../workers';
import { startAccountLoginWorker } from '../../workers/account-login.worker';
import { callbackProcessWorker } from '../../workers/callback-process.worker';
import { startMessageSendWorker } from '../../workers/message-send.worker';
import { startTaskExpandWorker } from '../../workers/task-expand.worker';
import { launchChromium } from '../helpers/chromium';
import { canvasPainted, checkScreen as checkScreen_, confirmWith, DESKTOP, pickOption, SHOTS, whatThePageShows } from '../helpers/console-page';
import { createTenant, createTestEnv, createUserWithRole, uniqueName, type TestEnv, type TestTenant } from '../helpers/env';
import { buildConsole } from '../helpers/console-build';
import { http } from '../helpers/http';
import { startTestSimulator, type TestSimulator } from '../helpers/simulator';
import { waitFor } from '../helpers/wait';

/**
 * The operator's whole journey in real Chromium against the real service: the API serving the built
 * console, the workers, and the gateway simulator whose control API plays the person with the phone.
 * Screenshots of every screen (desktop and phone) land in test-results/console/; axe checks each one.
 */
const CALLBACK_SECRET = 'journey-callback-secret';
const GATEWAY_KEY = 'journey-gateway-key';

let sim: TestSimulator;
let env: TestEnv;
let workers: RunningWorker[] = [];
let tenant: TestTenant;
let tenantCode: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const axeFindings: string[] = [];

jest.setTimeout(180_000);

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await buildConsole();
  sim = await startTestSimulator({ callbackSecret: CALLBACK_SECRET, apiKey: GATEWAY_KEY, autoLogin: false, callbackQueue: { retryBaseMs: 20 } });
  env = await createTestEnv('journey', {
    api: true,
    env: { GATEWAY_URL: sim.url, GATEWAY_API_KEY: GATEWAY_KEY, GATEWAY_CALLBACK_SECRET: CALLBACK_SECRET, GATEWAY_TIMEOUT_MS: '15000', ACCOUNT_LOGIN_POLL_MS: '100', ACCOUNT_LOGIN_TIMEOUT_SECONDS: '120', LOGIN_MAX_FAILURES: '2' },
  });
  sim.callbacks.setUrl(`${env.url}/callbacks/gateway`);
  workers = [
    startAccountLoginWorker(env.ctx, { concurrency: 2 }),
    await callbackProcessWorker(env.ctx),
    startTaskExpandWorker(env.ctx),
    startMessageSendWorker(env.ctx, { sweepIntervalMs: 500, sender: { budgetMs: 2_000, offlineRecheckMs: 500 } }),
  ];
  tenantCode = uniqueName('journey');
  tenant = await createTenant(env, { code: tenantCode, maxAccounts: 10 });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
}, 320_000);

afterAll(async () => {
  await browser?.close();
  for (const w of workers) await w.close();
  await sim?.close();
  await env?.close();
  if (axeFindings.length) console.log(`[console] axe findings (moderate/minor):\n${axeFindings.join('\n')}`);
});

const url = (path: string) => `${env.url}/console${path}`;
const byTestId = (id: string) => page.getByTestId(id);

const checkScreen = (name: string, p: Page = page) => checkScreen_(p, name, axeFindings);

async function accountByName(name: string): Promise<{ id: string; guid: string; status: string }> {
  return env.ctx.db('wework_accounts').where({ tenant_id: tenant.tenantId, account_name: name }).first();
}

const journey: Array<[string, () => Promise<void>]> = [];
const step = (name: string, run: () => Promise<void>) => journey.push([name, run]);

step('sign-in: zh-CN by default; a wrong password, then a lockout, are told as such', async () => {
  // A second operator gets locked by failed sign-ins (LOGIN_MAX_FAILURES=2 here).
  const locked = await createUserWithRole(env, tenant, 'operator');
  const lockedName = (await env.ctx.db('users').where({ id: locked.userId }).first()).username as string;

  await page.goto(url('/'));
  await page.waitForURL(/\/console\/sign-in/);
  await expectText(page.locator('h1'), '企微运营平台');
  await checkScreen('sign-in');

  await byTestId('tenant').fill(tenantCode);
  await byTestId('username').fill(tenant.username);
  await byTestId('password').fill('wrong password');
  await byTestId('sign-in-submit').click();
  await waitFor(() => byTestId('sign-in-error').getAttribute('data-kind'), 'the wrong-password answer', { until: (k) => k === 'invalid_credentials' });

  await byTestId('username').fill(lockedName);
  for (const expected of [401, 401, 423]) {
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
    await byTestId('sign-in-submit').click();
    expect((await answer).status()).toBe(expected);
  }
  await waitFor(() => byTestId('sign-in-error').getAttribute('data-kind'), 'the lockout answer', { until: (k) => k === 'locked' });
  expect(await byTestId('sign-in-error').textContent()).toContain('锁定');

  const started = Date.now();
  await byTestId('username').fill(tenant.username);
  await byTestId('password').fill(tenant.password);
  await byTestId('sign-in-submit').click();
  await byTestId('dashboard').waitFor();
  await byTestId('accounts-online').waitFor();
  console.log(`[console] dashboard interactive ${Date.now() - started} ms after sign-in`);
  await waitFor(() => byTestId('live-indicator').getAttribute('data-connected'), 'the live connection up', { until: (c) => c === 'true' });
  // The refresh token is not readable by the page: it is an HttpOnly cookie on the auth path.
  expect(await page.evaluate('document.cookie')).not.toContain('wwp_refresh');
  const cookies = await context.cookies(`${env.url}/api/v1/auth/refresh`);
  expect(cookies.find((c) => c.name === 'wwp_refresh')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/v1/auth' });
  await checkScreen('dashboard');

  // A reload keeps the session (the cookie refreshes it; the access token was only in memory).
  await page.reload();
  await byTestId('dashboard').waitFor();
});

step('accounts: add one, the QR appears, scan and confirm on the simulator, a wrong then a right code: online without a reload', async () => {
  await byTestId('nav').getByText('账号').click();
  await byTestId('accounts').waitFor();
  await byTestId('account-create').click();
  await byTestId('account-name').fill('phone-1');
  // The create goes through the gateway (slow on a busy machine): wait on its answer, and name a refusal.
  const created = page.waitForResponse((r) => r.url().endsWith('/api/v1/accounts') && r.request().method() === 'POST', { timeout: 60_000 });
  await byTestId('account-create-submit').click();
  const answer = await created;
  expect({ status: answer.status(), body: answer.status() === 201 ? 'created' : await answer.text() }).toEqual({ status: 201, body: 'created' });
  // Then on the list re-read the success invalidates.
  await byTestId('account-status-phone-1').waitFor({ timeout: 60_000 });
  const acct = await accountByName('phone-1');

  await byTestId('account-login-phone-1').click();
  const qr = byTestId('login-qr');
  await qr.waitFor({ timeout: 30_000 });
  await waitFor(() => qr.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0), 'the QR image decoded');
  await checkScreen('login-qr');

  await http('POST', `${sim.url}/_control/instances/${acct.guid}/require-verify`, { body: { code: '424242' } });
  await http('POST', `${sim.url}/_control/instances/${acct.guid}/scan`);
  await waitFor(() => byTestId('login-dialog').getAttribute('data-status'), 'waiting_confirm shown live', { until: (s) => s === 'waiting_confirm' });
  await http('POST', `${sim.url}/_control/instances/${acct.guid}/confirm`);
  await byTestId('verify-code').waitFor({ timeout: 30_000 });
  await byTestId('verify-code').fill('000000');
  await byTestId('verify-submit').click();
  await byTestId('verify-error').waitFor();
  expect(await byTestId('login-dialog').getAttribute('data-status')).toBe('need_verify');
  // Keyboard only: the code field has the focus back, Enter submits.
  await byTestId('verify-code').press('Control+A');
  await page.keyboard.type('424242');
  await page.keyboard.press('Enter');
  await waitFor(() => byTestId('login-dialog').getAttribute('data-status'), 'online shown live', { until: (s) => s === 'online' });
  await page.keyboard.press('Escape');
  // The row's chip changed through account.status, without a reload.
  await waitFor(() => byTestId('account-status-phone-1').getAttribute('data-status'), 'the status chip online', { until: (s) => s === 'online' });
  await checkScreen('accounts');
});

step('templates: the editor previews the text with sample values in the phone frame', async () => {
  await byTestId('nav').getByText('模板').click();
  await byTestId('template-create').click();
  await byTestId('template-name').fill('promo');
  await byTestId('template-text').fill('你好 {{name}}，新品上架');
  await byTestId('var-add').click();
  await byTestId('var-name-0').fill('name');
  await byTestId('var-sample-0').fill('Ann');
  await waitFor(() => byTestId('template-preview').textContent(), 'the preview filled', { until: (t) => t === '你好 Ann，新品上架' });
  await checkScreen('template-editor');
  await byTestId('template-save').click();
  await page.getByRole('cell', { name: 'promo' }).waitFor();
  await checkScreen('templates');

  // Edit: the stored text, variables and samples come back; the preview follows the change; saved.
  await byTestId('template-edit-promo').click();
  await waitFor(() => byTestId('template-preview').textContent(), 'the stored template previewed', { until: (t) => t === '你好 Ann，新品上架' });
  expect(await byTestId('var-name-0').inputValue()).toBe('name');
  await byTestId('template-text').fill('你好 {{name}}，春季新品上架');
  await waitFor(() => byTestId('template-preview').textContent(), 'the edited preview', { until: (t) => t === '你好 Ann，春季新品上架' });
  await checkScreen('template-edit');
  const saved = page.waitForResponse((r) => /\/api\/v1\/templates\/[0-9a-f-]{36}$/.test(r.url()) && r.request().method() === 'PATCH');
  await byTestId('template-save').click();
  expect((await saved).status()).toBe(200);
  const stored = await env.ctx.db('message_templates').where({ tenant_id: tenant.tenantId, template_name: 'promo' }).first();
  const storedContent = typeof stored.template_content === 'string' ? JSON.parse(stored.template_content) : stored.template_content;
  expect(storedContent.text).toBe('你好 {{name}}，春季新品上架');

  // Delete (after a confirmation): a scratch template goes from the list and the database.
  await byTestId('template-create').click();
  await byTestId('template-name').fill('scratch');
  await byTestId('template-text').fill('draft');
  await byTestId('template-save').click();
  await byTestId('template-delete-scratch').click();
  await confirmWith(page.locator('.ant-popconfirm .ant-btn-primary'), 'the delete confirm');
  await waitFor(() => byTestId('template-delete-scratch').count(), 'the scratch template gone from the list', { until: (n) => n === 0 });
  expect(await env.ctx.db('message_templates').where({ tenant_id: tenant.tenantId, template_name: 'scratch' }).first()).toBeUndefined();
});

let taskId = '';
step('campaign: CSV bad rows reported; create and start; live progress to 100% with pause and resume; failures with codes; retry the failed', async () => {
  sim.control.configure({ permanent_targets: ['c-1', 'c-2'] });
  await byTestId('nav').getByText('群发任务').click();
  await byTestId('task-create').click();
  await byTestId('task-name').fill('spring sale');
  await pickOption(page, 'task-accounts', 'phone-1');
  await page.keyboard.press('Escape');
  await byTestId('wizard-next').click();

  // CSV with a bad row: reported by line before anything exists.
  await page.getByLabel('CSV 文件').first().check();
  await byTestId('task-csv').setInputFiles({ name: 'audience.csv', mimeType: 'text/csv', buffer: Buffer.from('conversation_id,name\nc-1,A\n,NoId\nc-2,B\n') });
  await waitFor(() => byTestId('audience-count').isEnabled(), 'the CSV uploaded');
  await byTestId('audience-count').click();
  await byTestId('audience-problems').getByRole('cell', { name: '3', exact: true }).waitFor();
  await checkScreen('wizard-audience');

  // The campaign itself: a list of 12, two of which the gateway refuses.
  await page.getByLabel('名单').first().check();
  await byTestId('task-targets').fill(Array.from({ length: 12 }, (_, i) => `c-${i}`).join('\n'));
  await byTestId('audience-count').click();
  await waitFor(() => byTestId('audience-result').textContent(), 'the recipient count', { until: (t) => Boolean(t?.startsWith('12 ')) });
  await byTestId('wizard-next').click();
  await pickOption(page, 'task-template', 'promo');
  await byTestId('task-variables').fill('name=Bob');
  await byTestId('wizard-next').click();
  await byTestId('task-rate').fill('60');
  await byTestId('task-threshold').fill('0');
  await byTestId('wizard-next').click();
  await checkScreen('wizard-review');
  await byTestId('task-start').click();
  await byTestId('task-detail').waitFor();
  taskId = page.url().split('/').pop()!;

  // Pause once something was sent, then resume; the page follows by itself.
  await waitFor(async () => Number(await byTestId('task-detail').getAttribute('data-sent')), 'first sends shown live', { until: (n) => n >= 1, timeoutMs: 60_000 });
  await byTestId('task-pause').click();
  await waitFor(() => byTestId('task-detail').getAttribute('data-status'), 'paused', { until: (s) => s === 'paused' });
  await byTestId('task-resume').click();
  await waitFor(() => byTestId('task-detail').getAttribute('data-status'), 'running again', { until: (s) => s === 'running' || s === 'completed' });
  await waitFor(() => byTestId('task-progress').getAttribute('aria-valuenow'), 'the progress bar at 100% live', { until: (v) => v === '100', timeoutMs: 90_000 });
  await waitFor(() => byTestId('task-detail').getAttribute('data-status'), 'completed', { until: (s) => s === 'completed' });
  expect(await byTestId('task-detail').getAttribute('data-failed')).toBe('2');

  await byTestId('recipient-filter').getByText('失败').click();
  const rows = byTestId('recipients').locator('tbody tr.ant-table-row');
  await waitFor(() => rows.count(), 'the two failed recipients', { until: (n) => n === 2 });
  expect(await byTestId('recipients').textContent()).toContain('target_not_found');
  await checkScreen('task-detail');

  sim.control.configure({ permanent_targets: [] });
  await byTestId('task-retry').click();
  // Both failures are permanent (target_not_found): the console says so and retries them on request.
  await confirmWith(byTestId('task-retry-permanent'), 'the retry confirm');
  const retryUrl = await waitFor(() => page.url(), 'the retry task page', { until: (u) => !u.endsWith(taskId) && /\/tasks\/[0-9a-f-]{36}$/.test(u) });
  const retryId = retryUrl.split('/').pop()!;
  const retried = page.locator(`[data-testid=task-detail][data-task-id="${retryId}"]`);
  await waitFor(() => retried.getAttribute('data-status'), 'the retry completed', { until: (s) => s === 'completed', timeoutMs: 60_000 });
  expect(await retried.getAttribute('data-success')).toBe('2');
});

step('dashboard chart draws; the task list and settings render', async () => {
  await byTestId('nav').getByText('总览').click();
  const canvas = byTestId('series-chart').locator('canvas');
  await canvas.waitFor();
  expect(await canvasPainted(canvas)).toBe(true);
  await byTestId('nav').getByText('群发任务').click();
  await byTestId('tasks').waitFor();
  await checkScreen('tasks');
  await byTestId('nav').getByText('设置').click();
  await byTestId('settings').waitFor();
  await checkScreen('settings');
  expect(pageErrors).toEqual([]);
});

step('a viewer sees no write actions; English on the switch', async () => {
  const viewer = await createUserWithRole(env, tenant, 'viewer');
  const name = (await env.ctx.db('users').where({ id: viewer.userId }).first()).username as string;
  const ctx2 = await browser.newContext({ viewport: DESKTOP });
  const p = await ctx2.newPage();
  try {
    await p.goto(url('/sign-in'));
    await p.getByTestId('language').getByText('EN').click();
    await p.getByRole('button', { name: 'Sign in' }).waitFor();
    // Keyboard only: Tab to the first field, type, Tab on, Enter signs in.
    await waitFor(
      async () => {
        await p.keyboard.press('Tab');
        return p.evaluate('document.activeElement && document.activeElement.getAttribute("data-testid")');
      },
      'the tenant field reached with Tab',
      { until: (id) => id === 'tenant', intervalMs: 10, timeoutMs: 5_000 },
    );
    await p.keyboard.type(tenantCode);
    await p.keyboard.press('Tab');
    await p.keyboard.type(name);
    await p.keyboard.press('Tab');
    await p.keyboard.type('correct horse battery');
    await p.keyboard.press('Enter');
    await p.getByTestId('dashboard').waitFor();
    for (const [nav, screen, action] of [['Accounts', 'accounts', 'account-create'], ['Templates', 'templates', 'template-create'], ['Campaigns', 'tasks', 'task-create']] as const) {
      await p.getByTestId('nav').getByText(nav).click();
      await p.getByTestId(screen).waitFor();
      await p.locator('.ant-table').first().waitFor();
      expect(await p.getByTestId(action).count()).toBe(0);
    }
    await p.goto(url(`/tasks/${taskId}`));
    await p.getByTestId('task-detail').waitFor();
    expect(await p.getByTestId('task-retry').count()).toBe(0);
    expect(await p.getByTestId('task-cancel').count()).toBe(0);
  } finally {
    await ctx2.close();
  }
});

async function expectText(locator: ReturnType<Page['locator']>, text: string): Promise<void> {
  await waitFor(() => locator.first().textContent(), `text "${text}"`, { until: (t) => Boolean(t?.includes(text)) });
}

/**
 * One operator's journey: each step builds on the one before (signed in, the account online, the
 * template there, the campaign run), so the steps run in order inside one test, which jest --randomize
 * cannot reorder. A failure names its step.
 */
test('the operator journey, step by step', async () => {
  for (const [name, run] of journey) {
    try {
      await run();
    } catch (err) {
      if (err instanceof Error) err.message = `step "${name}": ${err.message}\n${await whatThePageShows(page, pageErrors)}`;
      throw err;
    }
  }
}, journey.length * 180_000);
