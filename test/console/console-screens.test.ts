import type { Browser, BrowserContext, Page } from 'playwright-core';
import { newId } from '../../src/db/ids';
import { rollupMessageStatistics } from '../../src/db/statistics';
import { launchChromium } from '../helpers/chromium';
import { buildConsole } from '../helpers/console-build';
import { canvasPainted, checkScreen, DESKTOP, signInThroughForm, whatThePageShows } from '../helpers/console-page';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/**
 * The console's list and report screens in real Chromium against the real API, on rows written the
 * way the service writes them: messages (rolled up into the hourly statistics), callback events,
 * conversations. Each screen: what it shows, its write action, a screenshot at 1280×800 and 390×844,
 * and axe. The wizard's strategy step is checked by what the created task stores.
 */
let env: TestEnv;
let tenant: TestTenant;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const axeFindings: string[] = [];
const accA = newId();
const accB = newId();
const failedEvent = newId();

jest.setTimeout(120_000);

beforeAll(async () => {
  await buildConsole();
  env = await createTestEnv('screens', { api: true });
  tenant = await createTenant(env, { timezone: 'Asia/Shanghai', maxDailyMessages: 5000 });
  const db = env.ctx.db;
  await db('wework_accounts').insert([
    { id: accA, tenant_id: tenant.tenantId, account_name: 'shop-a', status: 'online' },
    { id: accB, tenant_id: tenant.tenantId, account_name: 'shop-b', status: 'offline' },
  ]);
  const now = Date.now();
  const message = (accountId: string, i: number, status: string, error?: [string, string]) => ({
    id: newId(),
    tenant_id: tenant.tenantId,
    account_id: accountId,
    conversation_id: `conv-${i}`,
    message_type: 'text',
    content: JSON.stringify({ type: 'text', text: `hello ${i}` }),
    status,
    created_at: new Date(now - (i + 1) * 60_000),
    send_time: status === 'failed' ? null : new Date(now - (i + 1) * 60_000 + 1_000),
    error_code: error?.[0] ?? null,
    error_message: error?.[1] ?? null,
  });
  await db('messages').insert([
    ...Array.from({ length: 8 }, (_, i) => message(accA, i, 'delivered')),
    message(accA, 8, 'failed', ['target_not_found', 'no such conversation']),
    message(accB, 9, 'sent'),
    message(accB, 10, 'failed', ['rate_limited', 'slow down']),
  ]);
  await rollupMessageStatistics(db, new Date(now - 2 * 3_600_000), new Date(now));
  await db('callback_events').insert([
    { id: failedEvent, tenant_id: tenant.tenantId, guid: 'guid-a', notify_type: 11001, event_type: 'message.status', raw_data: '{"x":1}', status: 'failed', error_message: 'boom', received_time: new Date(now - 60_000) },
    { id: newId(), tenant_id: tenant.tenantId, guid: 'guid-a', notify_type: 11001, event_type: 'message.status', raw_data: '{"x":2}', status: 'processed', received_time: new Date(now - 30_000) },
  ]);
  await db('conversations').insert([
    { id: newId(), tenant_id: tenant.tenantId, account_id: accA, conversation_id: 'room-1', conversation_name: 'VIP 群', conversation_type: 'group', member_count: 42, last_msg_time: new Date(now) },
    { id: newId(), tenant_id: tenant.tenantId, account_id: accA, conversation_id: 'wx-ann', conversation_name: 'Ann', conversation_type: 'private', member_count: 2, last_msg_time: new Date(now) },
  ]);
  browser = await launchChromium();
  context = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await signInThroughForm(page, `${env.url}/console`, { tenantCode: (await db('tenants').where({ id: tenant.tenantId }).first()).tenant_code, username: tenant.username, password: tenant.password });
}, 320_000);

afterAll(async () => {
  await browser?.close();
  await env?.close();
  if (axeFindings.length) console.log(`[console] axe findings (moderate/minor):\n${axeFindings.join('\n')}`);
});

const open = async (path: string, testId: string) => {
  await page.goto(`${env.url}/console${path}`);
  await page.getByTestId(testId).waitFor();
};
const rowsOf = (testId: string) => page.getByTestId(testId).locator('tbody tr.ant-table-row');

/** Names the page's state when a check fails. */
async function withPage(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof Error) err.message = `${err.message}\n${await whatThePageShows(page, pageErrors)}`;
    throw err;
  }
}

test('reports: the series chart draws, totals with the success rate, the per-account table', () =>
  withPage(async () => {
    await open('/reports', 'reports');
    const canvas = page.getByTestId('series-chart').locator('canvas');
    await canvas.waitFor();
    expect(await canvasPainted(canvas)).toBe(true);
    await waitFor(() => page.getByTestId('report-total').textContent(), 'the totals', { until: (t) => Boolean(t?.includes('11')) });
    // 9 accepted (8 delivered + 1 sent) of 11 settled: 81.8%.
    expect(await page.getByTestId('report-success-rate').textContent()).toContain('81.8%');
    await waitFor(() => rowsOf('report-accounts').count(), 'both accounts in the table', { until: (n) => n === 2 });
    expect(await page.getByTestId('report-accounts').textContent()).toContain('shop-a');
    await page.getByTestId('report-granularity').getByText('按天').click();
    await waitFor(() => canvasPainted(page.getByTestId('series-chart').locator('canvas')), 'the daily chart drawn');
    await checkScreen(page, 'reports', axeFindings);
  }));

test('messages: the list filtered by status; a single message sent from the dialog', () =>
  withPage(async () => {
    await open('/messages', 'messages');
    await waitFor(() => rowsOf('messages-table').count(), 'the messages', { until: (n) => n === 11 });
    await page.getByTestId('messages-status').click();
    await page.locator('.ant-select-item-option', { hasText: '失败' }).click();
    await waitFor(() => rowsOf('messages-table').count(), 'the failed messages only', { until: (n) => n === 2 });
    expect(await page.getByTestId('messages-table').textContent()).toContain('target_not_found');
    await checkScreen(page, 'messages', axeFindings);

    await page.getByTestId('message-send').click();
    await page.getByTestId('message-account').click();
    await page.locator('.ant-select-item-option', { hasText: 'shop-a' }).click();
    await page.getByTestId('message-conversation').fill('wx-ann');
    await page.getByTestId('message-text').fill('single hello');
    await checkScreen(page, 'message-send', axeFindings);
    const sent = page.waitForResponse((r) => r.url().endsWith('/api/v1/messages') && r.request().method() === 'POST');
    await page.getByTestId('message-send-submit').click();
    const answer = await sent;
    expect({ status: answer.status(), body: answer.status() < 300 ? 'ok' : await answer.text() }).toEqual({ status: 202, body: 'ok' });
    const row = await env.ctx.db('messages').where({ tenant_id: tenant.tenantId, conversation_id: 'wx-ann' }).first();
    expect(row).toMatchObject({ account_id: accA, message_type: 'text' });
  }));

test('callback events: the failed one filtered, read, and re-driven', () =>
  withPage(async () => {
    await open('/callbacks', 'callbacks');
    await waitFor(() => rowsOf('callbacks-table').count(), 'both events', { until: (n) => n === 2 });
    await page.getByTestId('callbacks-status').getByText('失败').click();
    await waitFor(() => rowsOf('callbacks-table').count(), 'the failed event only', { until: (n) => n === 1 });
    await checkScreen(page, 'callbacks', axeFindings);
    const redriven = page.waitForResponse((r) => r.url().endsWith(`/callbacks/events/${failedEvent}/redrive`));
    await page.getByTestId(`callback-redrive-${failedEvent}`).click();
    expect((await redriven).status()).toBe(202);
    const row = await env.ctx.db('callback_events').where({ id: failedEvent }).first();
    expect(row.status).not.toBe('failed');
    await waitFor(() => rowsOf('callbacks-table').count(), 'the failed list empty after the re-drive', { until: (n) => n === 0 });
  }));

test("conversations: an account's groups and private chats", () =>
  withPage(async () => {
    await open(`/conversations?account=${accA}`, 'conversations');
    await waitFor(() => rowsOf('conversations-table').count(), 'the two conversations', { until: (n) => n === 2 });
    expect(await page.getByTestId('conversations-table').textContent()).toContain('VIP 群');
    await checkScreen(page, 'conversations', axeFindings);
  }));

test('settings: WeCom callback saved (secrets never shown back); the audit log lists it', () =>
  withPage(async () => {
    await open('/settings', 'settings');
    await page.getByRole('tab', { name: '企业微信回调' }).click();
    await page.getByTestId('wecom-corp-id').fill('ww1234567890');
    await page.getByTestId('wecom-token').fill('tok3n');
    await page.getByTestId('wecom-aes-key').fill('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG');
    await page.getByTestId('wecom-save').click();
    await waitFor(() => page.getByTestId('wecom-callback-url').textContent(), 'the callback URL shown', { until: (u) => Boolean(u?.includes(`/callbacks/wecom/${tenant.tenantId}`)) });
    expect(await page.getByTestId('wecom-config').textContent()).not.toContain('tok3n');
    await checkScreen(page, 'settings-wecom', axeFindings);
    await page.getByRole('tab', { name: '审计日志' }).click();
    await waitFor(() => page.getByTestId('audit-table').textContent(), 'the audit entries', { until: (t) => Boolean(t?.includes('wecom')) });
    await checkScreen(page, 'settings-audit', axeFindings);
  }));

test('wizard: audience by filter, then the strategy (window in the tenant zone, jitter, retry, priority, schedule) stored on the task', () =>
  withPage(async () => {
    await open('/tasks/new', 'new-task');
    await page.getByTestId('task-name').fill('scheduled promo');
    await page.getByTestId('task-accounts').click();
    await page.locator('.ant-select-item-option', { hasText: 'shop-a' }).click();
    await page.keyboard.press('Escape');
    await page.getByTestId('wizard-next').click();
    await page.getByLabel('按条件筛选').check();
    await page.getByTestId('audience-filter').getByLabel('群聊').check();
    await page.getByTestId('audience-count').click();
    await waitFor(() => page.getByTestId('audience-result').textContent(), 'one group counted', { until: (t) => Boolean(t?.startsWith('1 ')) });
    await page.getByTestId('wizard-next').click();
    await page.getByLabel('直接输入').check();
    await page.getByTestId('task-text').fill('weekend offer');
    await page.getByTestId('wizard-next').click();
    expect(await page.getByTestId('task-strategy').textContent()).toContain('Asia/Shanghai');
    expect(await page.getByTestId('task-daily-cap').textContent()).toContain('5000');
    await page.getByTestId('task-jitter').fill('10');
    await page.getByTestId('task-priority').fill('8');
    await page.getByTestId('task-window').click();
    await page.getByTestId('task-window-start').fill('09:30');
    await page.getByTestId('task-window-end').fill('20:00');
    await page.getByTestId('task-attempts').fill('4');
    await page.getByTestId('task-schedule').fill('2099-01-02T10:00');
    await checkScreen(page, 'wizard-strategy', axeFindings);
    await page.getByTestId('wizard-next').click();
    const created = page.waitForResponse((r) => r.url().endsWith('/api/v1/tasks') && r.request().method() === 'POST');
    await page.getByTestId('task-start').click();
    const answer = await created;
    expect({ status: answer.status(), body: answer.status() === 201 ? 'created' : await answer.text() }).toEqual({ status: 201, body: 'created' });
    await page.getByTestId('task-detail').waitFor();
    const task = (await answer.json()) as { id: string; status: string; priority: number; scheduled_time: string; target_type: string; send_strategy: Record<string, unknown> };
    expect(task).toMatchObject({ status: 'created', priority: 8, target_type: 'filter' });
    expect(new Date(task.scheduled_time).getUTCFullYear()).toBe(2099);
    expect(task.send_strategy).toMatchObject({ jitter: 0.1, window: { start: '09:30', end: '20:00', days: [1, 2, 3, 4, 5, 6, 7] }, retry: { max_attempts: 4, backoff: 'exponential', backoff_ms: 5000 } });
  }));

test('a viewer sees no write action on these screens', async () => {
  const viewer = await createUserWithRole(env, tenant, 'viewer');
  const name = (await env.ctx.db('users').where({ id: viewer.userId }).first()).username as string;
  const code = (await env.ctx.db('tenants').where({ id: tenant.tenantId }).first()).tenant_code as string;
  const ctx2 = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  const p = await ctx2.newPage();
  try {
    await signInThroughForm(p, `${env.url}/console`, { tenantCode: code, username: name, password: 'correct horse battery' });
    for (const [path, screen, table] of [['/messages', 'messages', 'messages-table'], ['/callbacks', 'callbacks', 'callbacks-table'], [`/conversations?account=${accA}`, 'conversations', 'conversations-table'], ['/templates', 'templates', '']] as const) {
      await p.goto(`${env.url}/console${path}`);
      await p.getByTestId(screen).waitFor();
      if (table) await waitFor(() => p.getByTestId(table).locator('tbody tr.ant-table-row').count(), `${screen} rows`, { until: (n) => n > 0 });
      else await p.locator('.ant-table').first().waitFor();
    }
    // Read back: on each screen, no button that writes.
    for (const [path, screen, actions] of [
      ['/messages', 'messages', ['message-send']],
      ['/callbacks', 'callbacks', ['callbacks-redrive-page', `callback-redrive-${failedEvent}`]],
      [`/conversations?account=${accA}`, 'conversations', ['conversations-sync']],
      ['/reports', 'reports', []],
    ] as const) {
      await p.goto(`${env.url}/console${path}`);
      await p.getByTestId(screen).waitFor();
      await p.locator('.ant-table').first().waitFor();
      for (const action of actions) expect({ screen, action, count: await p.getByTestId(action).count() }).toEqual({ screen, action, count: 0 });
    }
    await p.goto(`${env.url}/console/settings`);
    await p.getByTestId('settings').waitFor();
    expect(await p.getByTestId('wecom-save').count()).toBe(0);
  } finally {
    await ctx2.close();
  }
});

test('platform admin: tenants listed; quotas changed; a tenant suspended and resumed', async () => {
  const other = await createTenant(env, { maxAccounts: 10 });
  const code = (await env.ctx.db('tenants').where({ id: other.tenantId }).first()).tenant_code as string;
  const ctx2 = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  const p = await ctx2.newPage();
  try {
    await p.goto(`${env.url}/console/sign-in`);
    await p.getByTestId('platform-link').click();
    await p.getByTestId('platform-username').fill(env.config.auth.platformAdmin.username);
    await p.getByTestId('platform-password').fill(env.config.auth.platformAdmin.password);
    await p.getByTestId('platform-sign-in-submit').click();
    await p.getByTestId(`tenant-status-${code}`).waitFor();
    await checkScreen(p, 'platform-tenants', axeFindings);

    await p.getByTestId(`tenant-quotas-${code}`).click();
    await p.getByTestId('tenant-max-accounts').fill('25');
    await p.getByTestId('tenant-max-daily').fill('20000');
    await checkScreen(p, 'platform-quotas', axeFindings);
    await p.getByTestId('tenant-quotas-save').click();
    await waitFor(async () => (await env.ctx.db('tenants').where({ id: other.tenantId }).first()) as { max_accounts: number; max_daily_messages: number }, 'the quotas stored', {
      until: (t) => t.max_accounts === 25 && Number(t.max_daily_messages) === 20000,
    });

    await p.getByTestId(`tenant-suspend-${code}`).click();
    await p.locator('.ant-popconfirm .ant-btn-primary').click();
    await waitFor(() => p.getByTestId(`tenant-status-${code}`).getAttribute('data-status'), 'suspended shown', { until: (s) => s === 'suspended' });
    expect((await env.ctx.db('tenants').where({ id: other.tenantId }).first()).status).toBe('suspended');
    await p.getByTestId(`tenant-resume-${code}`).click();
    await waitFor(() => p.getByTestId(`tenant-status-${code}`).getAttribute('data-status'), 'active again', { until: (s) => s === 'active' });
    expect((await env.ctx.db('tenants').where({ id: other.tenantId }).first()).status).toBe('active');
  } catch (err) {
    if (err instanceof Error) err.message = `${err.message}\n${await whatThePageShows(p)}`;
    throw err;
  } finally {
    await ctx2.close();
  }
});
