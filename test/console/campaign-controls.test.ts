import type { Page } from 'playwright-core';
import { newId } from '../../src/db/ids';
import { controlsOf } from '../../src/domain/campaign-controls';
import { parseJson } from '../../src/db/json';
import { checkScreen } from '../helpers/console-page';
import { startConsoleStack, type ConsoleStack } from '../helpers/console-stack';
import { http } from '../helpers/http';
import type { TestEnv, TestTenant } from '../helpers/env';
import { waitFor } from '../helpers/wait';

/**
 * The campaign controls in the console, in real Chromium against the real API: the tenant settings tab
 * stores the caps, the task page shows a draft's dry run and clones a task. Screens checked with axe.
 */
let stack: ConsoleStack;
let page: Page;
const accA = newId();

jest.setTimeout(120_000);

async function seed(env: TestEnv, tenant: TestTenant): Promise<void> {
  await env.ctx.db('wework_accounts').insert({ id: accA, tenant_id: tenant.tenantId, account_name: 'shop-a', status: 'online' });
}

beforeAll(async () => {
  stack = await startConsoleStack('consolecontrols', { seed });
  page = stack.page;
}, 320_000);
afterAll(() => stack?.close());

const withPage = (run: () => Promise<void>) => stack.withPage(run);

test('settings: the campaign controls tab stores the frequency cap, the hourly cap and the risk pause', () =>
  withPage(async () => {
    await page.goto(`${stack.consoleUrl}/settings`);
    await page.getByTestId('settings').waitFor();
    await page.getByRole('tab', { name: '群发管控' }).click();
    await page.getByTestId('campaign-controls').waitFor();
    await page.getByTestId('cap-per-day').fill('2');
    await page.getByTestId('cap-hourly').fill('30');
    await page.getByTestId('risk-on').click();
    await page.getByTestId('controls-save').click();
    const stored = await waitFor(
      async () => controlsOf(parseJson((await stack.env.ctx.db('tenants').where({ id: stack.tenant.tenantId }).first()).campaign_controls, null)),
      'the controls stored',
      { until: (c) => c.frequency_cap?.per_day === 2 && c.risk_pause !== null },
    );
    expect(stored).toMatchObject({ frequency_cap: { per_day: 2, per_week: null }, account_hourly_cap: 30, risk_pause: { threshold: 5, cooldown_seconds: 1800 }, warmup: null });
    await checkScreen(page, 'settings-campaign-controls', stack.axeFindings);
  }));

test('task page: a draft shows its dry run (count and rendered messages) and is cloned into a new draft', () =>
  withPage(async () => {
    const created = await http('POST', `${stack.env.url}/api/v1/tasks`, {
      token: stack.tenant.adminToken,
      body: { name: 'spring promo', account_ids: [accA], target_type: 'manual', targets: [{ conversation_id: 'wx-ann' }, { conversation_id: 'wx-bo' }], content: { type: 'text', text: 'spring is here' } },
    });
    expect(created.status).toBe(201);
    await page.goto(`${stack.consoleUrl}/tasks/${created.body.id}`);
    await page.getByTestId('task-detail').waitFor();
    await page.getByTestId('task-preview').click();
    await page.getByTestId('dry-run').waitFor();
    expect(await page.getByTestId('dry-run-count').textContent()).toContain('2');
    expect(await page.getByTestId('dry-run').textContent()).toContain('spring is here');
    await checkScreen(page, 'task-dry-run', stack.axeFindings);
    await page.keyboard.press('Escape');
    await page.getByTestId('task-clone').click();
    await waitFor(() => page.getByTestId('task-detail').getAttribute('data-task-id'), 'the clone opened', { until: (id) => Boolean(id) && id !== created.body.id });
    const cloneId = await page.getByTestId('task-detail').getAttribute('data-task-id');
    const clone = await stack.env.ctx.db('batch_send_tasks').where({ id: cloneId }).first();
    expect(clone).toMatchObject({ task_name: 'spring promo (copy)', status: 'created', tenant_id: stack.tenant.tenantId });
  }));
