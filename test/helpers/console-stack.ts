import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { launchChromium } from './chromium';
import { buildConsole } from './console-build';
import { DESKTOP, signInThroughForm, whatThePageShows } from './console-page';
import { createTenant, createTestEnv, createUserWithRole, type TestEnv, type TestTenant } from './env';

/**
 * The API serving the built console, one tenant, and Chromium signed in as its admin: what a console
 * test file needs before its first screen. `seed` writes the file's rows before the sign-in.
 */
export interface ConsoleStack {
  env: TestEnv;
  tenant: TestTenant;
  tenantCode: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  pageErrors: string[];
  axeFindings: string[];
  consoleUrl: string;
  /** Goes to a console path and waits for the element with `testId` (the screen's root). */
  open(path: string, testId: string): Promise<void>;
  /** The data rows of the antd table with `testId`. */
  rowsOf(testId: string): Locator;
  /** Runs a check and, when it fails, adds what the page shows (URL, alerts, text, page errors). */
  withPage(run: () => Promise<void>, p?: Page): Promise<void>;
  /** A second browser context signed in as a new operator of `role`. */
  signInAs(role: 'viewer' | 'operator'): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export async function startConsoleStack(label: string, opts: { tenant?: Parameters<typeof createTenant>[1]; seed?: (env: TestEnv, tenant: TestTenant) => Promise<void> } = {}): Promise<ConsoleStack> {
  await buildConsole();
  const env = await createTestEnv(label, { api: true });
  const tenant = await createTenant(env, opts.tenant);
  const tenantCode = (await env.ctx.db('tenants').where({ id: tenant.tenantId }).first()).tenant_code as string;
  await opts.seed?.(env, tenant);
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  const axeFindings: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const consoleUrl = `${env.url}/console`;
  await signInThroughForm(page, consoleUrl, { tenantCode, username: tenant.username, password: tenant.password });
  return {
    env,
    tenant,
    tenantCode,
    browser,
    context,
    page,
    pageErrors,
    axeFindings,
    consoleUrl,
    async open(path, testId) {
      await page.goto(`${consoleUrl}${path}`);
      await page.getByTestId(testId).waitFor();
    },
    rowsOf: (testId) => page.getByTestId(testId).locator('tbody tr.ant-table-row'),
    async withPage(run, p = page) {
      try {
        await run();
      } catch (err) {
        if (err instanceof Error) err.message = `${err.message}\n${await whatThePageShows(p, pageErrors)}`;
        throw err;
      }
    },
    async signInAs(role) {
      const user = await createUserWithRole(env, tenant, role);
      const username = (await env.ctx.db('users').where({ id: user.userId }).first()).username as string;
      const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
      const p = await ctx.newPage();
      await signInThroughForm(p, consoleUrl, { tenantCode, username, password: 'correct horse battery' });
      return { context: ctx, page: p };
    },
    async close() {
      await browser.close();
      await env.close();
      if (axeFindings.length) console.log(`[console] axe findings (moderate/minor):\n${axeFindings.join('\n')}`);
    },
  };
}
