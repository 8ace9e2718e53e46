import type { Page } from 'playwright-core';
import { recordAudit } from '../../src/db/audit';
import { newId } from '../../src/db/ids';
import { checkScreen, confirmWith, DESKTOP, pickOption, signInAsPlatformAdmin, tabTo, whatThePageShows } from '../helpers/console-page';
import { startConsoleStack, type ConsoleStack } from '../helpers/console-stack';
import { createTenant, type TestEnv, type TestTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/**
 * The console's settings and admin screens in real Chromium against the real API: the WeCom callback
 * (secrets never shown back) and the audit log, the campaign wizard's audience filter and strategy as
 * stored on the task, and the platform admin's tenants (quotas, suspend, resume). Each screen at
 * 1280×800 and 390×844 with axe.
 */
let stack: ConsoleStack;
let page: Page;
const accA = newId();

jest.setTimeout(120_000);

async function seed(env: TestEnv, tenant: TestTenant): Promise<void> {
  await env.ctx.db('wework_accounts').insert({ id: accA, tenant_id: tenant.tenantId, account_name: 'shop-a', status: 'online' });
  await env.ctx.db('conversations').insert([
    { id: newId(), tenant_id: tenant.tenantId, account_id: accA, conversation_id: 'room-1', conversation_name: 'VIP 群', conversation_type: 'group', member_count: 42, last_msg_time: new Date() },
    { id: newId(), tenant_id: tenant.tenantId, account_id: accA, conversation_id: 'wx-ann', conversation_name: 'Ann', conversation_type: 'private', member_count: 2, last_msg_time: new Date() },
  ]);
}

beforeAll(async () => {
  stack = await startConsoleStack('consoleadmin', { tenant: { timezone: 'Asia/Shanghai', maxDailyMessages: 5000 }, seed });
  page = stack.page;
}, 320_000);
afterAll(() => stack?.close());

const open = (path: string, testId: string) => stack.open(path, testId);
const rowsOf = (testId: string) => stack.rowsOf(testId);
const withPage = (run: () => Promise<void>, p?: Page) => stack.withPage(run, p);

test('settings: WeCom callback saved (secrets never shown back); the audit log lists it', () =>
  withPage(async () => {
    await open('/settings', 'settings');
    await page.getByRole('tab', { name: '企业微信回调' }).click();
    await page.getByTestId('wecom-corp-id').fill('ww1234567890');
    await page.getByTestId('wecom-token').fill('tok3n');
    await page.getByTestId('wecom-aes-key').fill('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG');
    await page.getByTestId('wecom-save').click();
    await waitFor(() => page.getByTestId('wecom-callback-url').textContent(), 'the callback URL shown', { until: (u) => Boolean(u?.includes(`/callbacks/wecom/${stack.tenant.tenantId}`)) });
    expect(await page.getByTestId('wecom-config').textContent()).not.toContain('tok3n');
    await checkScreen(page, 'settings-wecom', stack.axeFindings);
    await page.getByRole('tab', { name: '审计日志' }).click();
    await waitFor(() => page.getByTestId('audit-table').textContent(), 'the audit entries', { until: (t) => Boolean(t?.includes('wecom')) });
    await checkScreen(page, 'settings-audit', stack.axeFindings);
  }));

test('wizard: audience by filter, then the strategy (window in the tenant zone, jitter, retry, priority, schedule) stored on the task', () =>
  withPage(async () => {
    await open('/tasks/new', 'new-task');
    await page.getByTestId('task-name').fill('scheduled promo');
    await pickOption(page, 'task-accounts', 'shop-a');
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
    await checkScreen(page, 'wizard-strategy', stack.axeFindings);
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
    // The campaign list finds it by name and by status.
    await open('/tasks', 'tasks');
    const search = page.getByTestId('tasks-search').locator('input');
    await search.fill('scheduled');
    await search.press('Enter');
    await waitFor(() => rowsOf('tasks').count(), 'the task found by name', { until: (n) => n === 1 });
    await page.getByTestId('tasks-status').getByText('已完成').click();
    await waitFor(() => rowsOf('tasks').count(), 'no completed task of that name', { until: (n) => n === 0 });
  }));

test('wizard by keyboard only: name, account, audience, inline content, start', () =>
  withPage(async () => {
    await open('/tasks/new', 'new-task');
    // The name field has the focus on arrival (autoFocus); Tab reaches it otherwise.
    await tabTo(page, 'task-name');
    await page.keyboard.type('keyboard promo');
    expect(await page.getByTestId('task-name').inputValue()).toBe('keyboard promo');
    await tabTo(page, 'task-accounts');
    await page.keyboard.type('shop-a');
    await waitFor(() => page.locator('.ant-select-item-option-active', { hasText: 'shop-a' }).count(), 'shop-a offered (and active) by the account search');
    // Enter picks the active option; pressed again only if the pick has not shown after a second
    // (a second Enter on a picked option would unpick it).
    const picked = () => page.getByTestId('task-accounts').locator('.ant-select-selection-item', { hasText: 'shop-a' }).count();
    await waitFor(
      async () => {
        if ((await picked()) > 0) return true;
        await page.keyboard.press('Enter');
        return false;
      },
      'shop-a picked with Enter',
      { intervalMs: 1000 },
    );
    await page.keyboard.press('Escape');
    await tabTo(page, 'wizard-next');
    await page.keyboard.press('Enter');

    await tabTo(page, 'task-targets');
    await page.keyboard.type('wx-ann');
    await tabTo(page, 'audience-count');
    await page.keyboard.press('Enter');
    await waitFor(() => page.getByTestId('audience-result').textContent(), 'one recipient counted', { until: (t) => Boolean(t?.startsWith('1 ')) });
    await tabTo(page, 'wizard-next');
    await page.keyboard.press('Enter');

    // Content: the source radios move with the arrow keys, from "template" to "inline".
    await page.getByTestId('content-source').waitFor();
    await tabTo(page, 'content-source');
    await page.keyboard.press('ArrowRight');
    await tabTo(page, 'task-text');
    await page.keyboard.type('hello by keyboard');
    await tabTo(page, 'wizard-next');
    await page.keyboard.press('Enter');

    await page.getByTestId('task-strategy').waitFor();
    await tabTo(page, 'wizard-next');
    await page.keyboard.press('Enter');
    const created = page.waitForResponse((r) => r.url().endsWith('/api/v1/tasks') && r.request().method() === 'POST');
    await tabTo(page, 'task-start');
    await page.keyboard.press('Enter');
    const answer = await created;
    expect({ status: answer.status(), body: answer.status() === 201 ? 'created' : await answer.text() }).toEqual({ status: 201, body: 'created' });
    const task = (await answer.json()) as { id: string; target_type: string };
    expect(task).toMatchObject({ target_type: 'manual' });
    const row = await stack.env.ctx.db('batch_send_tasks').where({ id: task.id }).first();
    expect({ name: row.task_name, text: JSON.stringify(row.message_content).includes('hello by keyboard') }).toEqual({ name: 'keyboard promo', text: true });
  }));

test('platform admin: tenants listed; quotas changed; a tenant suspended and resumed', async () => {
  const other = await createTenant(stack.env, { maxAccounts: 10 });
  const code = (await stack.env.ctx.db('tenants').where({ id: other.tenantId }).first()).tenant_code as string;
  const ctx2 = await stack.browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  const p = await ctx2.newPage();
  try {
    await signInAsPlatformAdmin(p, stack.consoleUrl, stack.env.config.auth.platformAdmin);
    await p.getByTestId(`tenant-status-${code}`).waitFor();
    await checkScreen(p, 'platform-tenants', stack.axeFindings);

    await p.getByTestId(`tenant-quotas-${code}`).click();
    await p.getByTestId('tenant-max-accounts').fill('25');
    await p.getByTestId('tenant-max-daily').fill('20000');
    await checkScreen(p, 'platform-quotas', stack.axeFindings);
    await p.getByTestId('tenant-quotas-save').click();
    await waitFor(async () => (await stack.env.ctx.db('tenants').where({ id: other.tenantId }).first()) as { max_accounts: number; max_daily_messages: number }, 'the quotas stored', {
      until: (t) => t.max_accounts === 25 && Number(t.max_daily_messages) === 20000,
    });

    await p.getByTestId(`tenant-suspend-${code}`).click();
    await confirmWith(p.locator('.ant-popconfirm .ant-btn-primary'), 'the suspend confirm');
    await waitFor(() => p.getByTestId(`tenant-status-${code}`).getAttribute('data-status'), 'suspended shown', { until: (s) => s === 'suspended' });
    expect((await stack.env.ctx.db('tenants').where({ id: other.tenantId }).first()).status).toBe('suspended');
    await p.getByTestId(`tenant-resume-${code}`).click();
    await waitFor(() => p.getByTestId(`tenant-status-${code}`).getAttribute('data-status'), 'active again', { until: (s) => s === 'active' });
    expect((await stack.env.ctx.db('tenants').where({ id: other.tenantId }).first()).status).toBe('active');
  } catch (err) {
    if (err instanceof Error) err.message = `${err.message}\n${await whatThePageShows(p, stack.pageErrors)}`;
    throw err;
  } finally {
    await ctx2.close();
  }
});

test('platform admin: the audit log of every tenant, by tenant and by action, in keyset pages', async () => {
  // Two tenants of this test with entries of their own (more than a page for one of them), and a platform entry.
  const [a, b] = [await createTenant(stack.env), await createTenant(stack.env)];
  const codeOf = async (t: TestTenant) => (await stack.env.ctx.db('tenants').where({ id: t.tenantId }).first()).tenant_code as string;
  const [codeA, codeB] = [await codeOf(a), await codeOf(b)];
  for (let i = 0; i < 55; i++) await recordAudit(stack.env.ctx.db, { tenantId: a.tenantId, actorType: 'user', actorId: a.adminId, action: 'template.update', targetType: 'template', targetId: `tpl-${i}` });
  await recordAudit(stack.env.ctx.db, { tenantId: b.tenantId, actorType: 'user', actorId: b.adminId, action: 'user.create', targetType: 'user', targetId: b.adminId });
  await recordAudit(stack.env.ctx.db, { tenantId: b.tenantId, actorType: 'platform', action: 'tenant.suspend', targetType: 'tenant', targetId: b.tenantId });
  const ctx2 = await stack.browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  const p = await ctx2.newPage();
  const rows = () => p.getByTestId('platform-audit-table').locator('tr[data-row-key]');
  const cells = (column: number) => rows().locator(`td:nth-child(${column})`).allInnerTexts();
  try {
    await signInAsPlatformAdmin(p, stack.consoleUrl, stack.env.config.auth.platformAdmin);
    await p.getByTestId('platform-nav').getByText('审计日志').click();
    await p.getByTestId('platform-audit').waitFor();
    // Every tenant's entries on one page, newest first (B's two and the latest of A's 55).
    await waitFor(() => cells(2), 'the newest entries of both tenants', { until: (c) => c.includes(codeA) && c.includes(codeB) });
    expect(await rows().count()).toBe(50);
    await checkScreen(p, 'platform-audit', stack.axeFindings);

    // Tenant A picked by its code through the server search: only its 55, in two pages.
    await p.getByTestId('platform-audit-tenant').click();
    await p.keyboard.type(codeA);
    await p.locator('.ant-select-item-option', { hasText: codeA }).click();
    await waitFor(() => cells(5), `tenant ${codeA}'s entries only`, { until: (c) => c.length === 50 && c[0] === 'template tpl-54' });
    expect(new Set(await cells(2))).toEqual(new Set([codeA]));
    await p.getByTestId('platform-audit-next').click();
    await waitFor(() => cells(5), 'the second page: the five oldest', { until: (c) => c.join() === ['tpl-4', 'tpl-3', 'tpl-2', 'tpl-1', 'tpl-0'].map((x) => `template ${x}`).join() });

    // Tenant B by action prefix: the platform's entry about it only.
    await p.getByTestId('platform-audit-tenant').click();
    await p.keyboard.type(codeB);
    await p.locator('.ant-select-item-option', { hasText: codeB }).click();
    const action = p.getByTestId('platform-audit-action').locator('input');
    await action.fill('tenant.*');
    await action.press('Enter');
    await waitFor(() => cells(3), 'tenant.* of tenant B', { until: (c) => c.join() === 'tenant.suspend' });
    expect({ tenant: await cells(2), actor: await cells(4) }).toEqual({ tenant: [codeB], actor: ['platform'] });
  } catch (err) {
    if (err instanceof Error) err.message = `${err.message}\n${await whatThePageShows(p, stack.pageErrors)}`;
    throw err;
  } finally {
    await ctx2.close();
  }
});
