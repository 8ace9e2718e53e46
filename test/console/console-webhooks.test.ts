import type { Page } from 'playwright-core';
import { checkScreen, confirmWith, whatThePageShows } from '../helpers/console-page';
import { startConsoleStack, type ConsoleStack } from '../helpers/console-stack';
import { waitFor } from '../helpers/wait';

/**
 * Settings → Webhooks in real Chromium against the real API: create an endpoint (the secret shown once),
 * its delivery log with a re-delivery, a secret rotation; screenshots and axe at each step.
 */
let stack: ConsoleStack;
let page: Page;
jest.setTimeout(120_000);

beforeAll(async () => {
  stack = await startConsoleStack('webhooksui');
  page = stack.page;
}, 320_000);
afterAll(() => stack?.close());

test('create shows the secret once; the delivery log re-delivers; rotation shows a new secret', async () => {
  try {
    await page.goto(`${stack.consoleUrl}/settings`);
    await page.getByTestId('settings').waitFor();
    await page.getByRole('tab', { name: 'Webhook' }).click();
    await page.getByTestId('webhook-new').click();
    await page.getByLabel('名称').fill('CRM');
    await page.getByLabel('URL').fill('https://crm.example.com/hooks/wework');
    await checkScreen(page, 'webhook-create', stack.axeFindings);
    const created = page.waitForResponse((r) => r.url().endsWith('/api/v1/webhooks') && r.request().method() === 'POST');
    await page.getByTestId('webhook-save').click();
    expect((await created).status()).toBe(201);
    const secret = (await page.getByTestId('webhook-secret').textContent()) ?? '';
    expect(secret).toMatch(/^whsec_/);
    const endpoint = await waitFor(() => stack.env.ctx.db('webhook_endpoints').where({ tenant_id: stack.tenant.tenantId }).first(), 'the endpoint row');
    expect(JSON.stringify(endpoint)).not.toContain(secret.slice(6));
    await checkScreen(page, 'webhooks', stack.axeFindings);

    await stack.env.ctx.db('webhook_deliveries').insert({
      id: 'msg_console_failed',
      tenant_id: stack.tenant.tenantId,
      endpoint_id: endpoint.id,
      event_type: 'task.completed',
      body: '{"type":"task.completed","timestamp":"2026-11-30T00:00:00.000Z","data":{}}',
      status: 'failed',
      attempts: 14,
      last_status_code: 500,
      last_latency_ms: 31,
      last_response: 'upstream down',
    });
    await page.getByRole('button', { name: '投递记录' }).click();
    await waitFor(() => page.getByTestId('webhook-deliveries').locator('tbody tr.ant-table-row').count(), 'the delivery row', { until: (n) => n === 1 });
    expect(await page.getByTestId('webhook-deliveries').textContent()).toContain('upstream down');
    await checkScreen(page, 'webhook-deliveries', stack.axeFindings);
    const redelivered = page.waitForResponse((r) => r.url().endsWith('/deliveries/msg_console_failed/redeliver'));
    await page.getByTestId('webhook-redeliver-msg_console_failed').click();
    expect((await redelivered).status()).toBe(202);
    expect((await stack.env.ctx.db('webhook_deliveries').where({ id: 'msg_console_failed' }).first()).status).toBe('pending');
    await page.keyboard.press('Escape');

    await page.getByRole('button', { name: '轮换密钥' }).click();
    const rotated = page.waitForResponse((r) => r.url().endsWith('/rotate-secret'));
    await confirmWith(page.locator('.ant-popconfirm').getByRole('button', { name: /OK|确 ?定/ }), 'the rotate confirm');
    expect((await rotated).status()).toBe(200);
    await waitFor(() => page.getByTestId('webhook-secret').textContent(), 'the new secret', { until: (s) => Boolean(s?.startsWith('whsec_') && s !== secret) });
  } catch (err) {
    if (err instanceof Error) err.message = `${err.message}\n${await whatThePageShows(page, stack.pageErrors)}`;
    throw err;
  }
});
