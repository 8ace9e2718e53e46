import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Locator, Page } from 'playwright-core';
import { waitFor } from './wait';

/**
 * What the console's Chromium tests share: the two screen sizes, a screenshot of each screen at both
 * (test-results/console/), axe on each (no serious or critical violation), and a readable account of
 * what a page showed when a step failed.
 */
export const SHOTS = join(__dirname, '..', '..', 'test-results', 'console');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Screenshots at desktop and phone sizes, then axe; moderate and minor findings go to `findings`. */
export async function checkScreen(p: Page, name: string, findings: string[]): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    await p.setViewportSize(viewport);
    await p.waitForTimeout(150);
    await p.screenshot({ path: join(SHOTS, `${name}-${size}.png`), fullPage: true });
  }
  await p.setViewportSize(DESKTOP);
  // The pointer left where the last click was would hover whatever the resize put under it.
  await p.mouse.move(0, 0);
  await p.waitForTimeout(300);
  const result = await new AxeBuilder({ page: p }).analyze();
  const grave = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result.violations.filter((x) => !grave.includes(x))) findings.push(`${name}: ${v.impact} ${v.id} (${v.nodes.length})`);
  expect({ screen: name, violations: grave.map((v) => `${v.id}: ${v.help} @ ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(' | ')}`) }).toEqual({ screen: name, violations: [] });
}

/** For a failed step: where the page is, its alerts and toasts, and the start of its visible text. */
export async function whatThePageShows(p: Page, pageErrors: string[] = []): Promise<string> {
  try {
    const alerts = await p.locator('[role=alert], .ant-message-notice, .ant-notification-notice, .ant-form-item-explain-error').allInnerTexts();
    const text = (await p.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 800);
    return `page: ${p.url()}\nalerts: ${JSON.stringify(alerts)}\ntext: ${text}\npage errors: ${JSON.stringify(pageErrors)}`;
  } catch (e) {
    return `page unreadable: ${(e as Error).message}`;
  }
}

/** True when a canvas has at least one non-transparent pixel (a chart that drew something). */
export function canvasPainted(canvas: Locator): Promise<boolean> {
  return canvas.evaluate((el) => {
    const c = el as unknown as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
    return false;
  });
}

/** Signs in through the form and waits for the dashboard. */
export async function signInThroughForm(p: Page, consoleUrl: string, who: { tenantCode: string; username: string; password: string }): Promise<void> {
  await p.goto(`${consoleUrl}/sign-in`);
  await p.getByTestId('tenant').fill(who.tenantCode);
  await p.getByTestId('username').fill(who.username);
  await p.getByTestId('password').fill(who.password);
  await p.getByTestId('sign-in-submit').click();
  await p.getByTestId('dashboard').waitFor();
}

/** Signs the platform admin in through the tenant sign-in page's link and waits for the tenants screen. */
export async function signInAsPlatformAdmin(p: Page, consoleUrl: string, who: { username: string; password: string }): Promise<void> {
  await p.goto(`${consoleUrl}/sign-in`);
  await p.getByTestId('platform-link').click();
  await p.getByTestId('platform-username').fill(who.username);
  await p.getByTestId('platform-password').fill(who.password);
  await p.getByTestId('platform-sign-in-submit').click();
  await p.getByTestId('platform-tenants').waitFor();
}

/**
 * Keyboard-only use: presses Tab until the focused element is (or is inside) the element with
 * `testId`, as a keyboard user would reach it; fails naming the element if 60 presses do not get there.
 */
export async function tabTo(p: Page, testId: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const there = await p.evaluate(`Boolean(document.activeElement && document.activeElement.closest('[data-testid="${testId}"]'))`);
    if (there) return;
    await p.keyboard.press('Tab');
  }
  throw new Error(`60 presses of Tab never reached ${testId}`);
}

/**
 * Picks the option labelled `label` of the antd Select with `testId`, and again (up to three times) if
 * the select does not show it afterwards: on a loaded machine a click during the dropdown's opening
 * motion can close it with nothing chosen (a CI run's status filter never applied).
 */
export async function pickOption(p: Page, testId: string, label: string): Promise<void> {
  const select = p.getByTestId(testId);
  for (let attempt = 1; ; attempt++) {
    await select.click();
    await p.locator('.ant-select-item-option', { hasText: label }).click();
    try {
      await waitFor(() => select.textContent(), `the select ${testId} showing "${label}"`, { timeoutMs: 3_000, intervalMs: 100, until: (t) => Boolean(t?.includes(label)) });
      return;
    } catch (err) {
      if (attempt === 3) throw err;
    }
    await p.keyboard.press('Escape');
  }
}

/**
 * Clicks the confirming button of a dialog or popconfirm until it closes (up to three times): like
 * pickOption's select, an overlay clicked while it is still opening can keep the click from reaching
 * its button (a CI run's "retry the permanent failures" confirm stayed open with nothing sent).
 */
export async function confirmWith(button: Locator, what: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await button.click();
    try {
      await waitFor(() => button.isHidden(), `${what} closed after its confirm`, { timeoutMs: 3_000, intervalMs: 100 });
      return;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}
