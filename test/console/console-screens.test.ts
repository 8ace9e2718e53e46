import type { Page } from 'playwright-core';
import { newId } from '../../src/db/ids';
import { rollupMessageStatistics } from '../../src/db/statistics';
import { canvasPainted, checkScreen, pickOption } from '../helpers/console-page';
import { startConsoleStack, type ConsoleStack } from '../helpers/console-stack';
import type { TestEnv, TestTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/**
 * The console's list and report screens in real Chromium against the real API, on rows written the
 * way the service writes them: messages (rolled up into the hourly statistics), callback events,
 * conversations. Each screen: what it shows, its write action, a screenshot at 1280×800 and 390×844,
 * and axe; a viewer sees none of the write actions. (Settings, the wizard's strategy and the platform
 * admin: console-admin.test.ts.)
 */
let stack: ConsoleStack;
let page: Page;
const accA = newId();
const accB = newId();
const failedEvent = newId();

jest.setTimeout(120_000);

async function seed(env: TestEnv, tenant: TestTenant): Promise<void> {
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
}

beforeAll(async () => {
  stack = await startConsoleStack('screens', { seed });
  page = stack.page;
}, 320_000);
afterAll(() => stack?.close());

const open = (path: string, testId: string) => stack.open(path, testId);
const rowsOf = (testId: string) => stack.rowsOf(testId);
const withPage = (run: () => Promise<void>, p?: Page) => stack.withPage(run, p);

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
    await checkScreen(page, 'reports', stack.axeFindings);
  }));

test('messages: the list filtered by status; a single message sent from the dialog', () =>
  withPage(async () => {
    await open('/messages', 'messages');
    await waitFor(() => rowsOf('messages-table').count(), 'the messages', { until: (n) => n === 11 });
    await pickOption(page, 'messages-status', '失败');
    await waitFor(() => rowsOf('messages-table').count(), 'the failed messages only', { until: (n) => n === 2 });
    expect(await page.getByTestId('messages-table').textContent()).toContain('target_not_found');
    // The account picker asks the server as one types.
    const searched = page.waitForResponse((r) => r.url().includes('/api/v1/accounts?') && r.url().includes('q=shop-b'));
    await page.getByTestId('messages-account').click();
    await page.keyboard.type('shop-b');
    await searched;
    await page.locator('.ant-select-item-option', { hasText: 'shop-b' }).click();
    await waitFor(() => rowsOf('messages-table').count(), "shop-b's failed message only", { until: (n) => n === 1 });
    expect(await page.getByTestId('messages-table').textContent()).toContain('rate_limited');
    await checkScreen(page, 'messages', stack.axeFindings);

    await page.getByTestId('message-send').click();
    await pickOption(page, 'message-account', 'shop-a');
    await page.getByTestId('message-conversation').fill('wx-ann');
    await page.getByTestId('message-text').fill('single hello');
    await checkScreen(page, 'message-send', stack.axeFindings);
    const sent = page.waitForResponse((r) => r.url().endsWith('/api/v1/messages') && r.request().method() === 'POST');
    await page.getByTestId('message-send-submit').click();
    const answer = await sent;
    expect({ status: answer.status(), body: answer.status() < 300 ? 'ok' : await answer.text() }).toEqual({ status: 202, body: 'ok' });
    const row = await stack.env.ctx.db('messages').where({ tenant_id: stack.tenant.tenantId, conversation_id: 'wx-ann' }).first();
    expect(row).toMatchObject({ account_id: accA, message_type: 'text' });
  }));

test('callback events: the failed one filtered, read, and re-driven', () =>
  withPage(async () => {
    await open('/callbacks', 'callbacks');
    await waitFor(() => rowsOf('callbacks-table').count(), 'both events', { until: (n) => n === 2 });
    await page.getByTestId('callbacks-status').getByText('失败').click();
    await waitFor(() => rowsOf('callbacks-table').count(), 'the failed event only', { until: (n) => n === 1 });
    await checkScreen(page, 'callbacks', stack.axeFindings);
    const redriven = page.waitForResponse((r) => r.url().endsWith(`/callbacks/events/${failedEvent}/redrive`));
    await page.getByTestId(`callback-redrive-${failedEvent}`).click();
    expect((await redriven).status()).toBe(202);
    const row = await stack.env.ctx.db('callback_events').where({ id: failedEvent }).first();
    expect(row.status).not.toBe('failed');
    await waitFor(() => rowsOf('callbacks-table').count(), 'the failed list empty after the re-drive', { until: (n) => n === 0 });
  }));

test("conversations: an account's groups and private chats", () =>
  withPage(async () => {
    // From the account's row on the accounts screen.
    await open('/accounts', 'accounts');
    await page.getByRole('row', { name: /shop-a/ }).getByRole('link', { name: '会话' }).click();
    await page.getByTestId('conversations').waitFor();
    expect(page.url()).toContain(`account=${accA}`);
    await waitFor(() => rowsOf('conversations-table').count(), 'the two conversations', { until: (n) => n === 2 });
    expect(await page.getByTestId('conversations-table').textContent()).toContain('VIP 群');
    await checkScreen(page, 'conversations', stack.axeFindings);
  }));

test('a viewer sees no write action on these screens', async () => {
  const { context: ctx2, page: p } = await stack.signInAs('viewer');
  try {
    for (const [path, screen, table] of [['/messages', 'messages', 'messages-table'], ['/callbacks', 'callbacks', 'callbacks-table'], [`/conversations?account=${accA}`, 'conversations', 'conversations-table'], ['/templates', 'templates', '']] as const) {
      await p.goto(`${stack.consoleUrl}${path}`);
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
      await p.goto(`${stack.consoleUrl}${path}`);
      await p.getByTestId(screen).waitFor();
      await p.locator('.ant-table').first().waitFor();
      for (const action of actions) expect({ screen, action, count: await p.getByTestId(action).count() }).toEqual({ screen, action, count: 0 });
    }
    await p.goto(`${stack.consoleUrl}/settings`);
    await p.getByTestId('settings').waitFor();
    await p.getByRole('tab').first().waitFor();
    expect(await p.getByTestId('wecom-save').count()).toBe(0);
  } finally {
    await ctx2.close();
  }
});
